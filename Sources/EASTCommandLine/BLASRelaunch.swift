import EASTEngine
import Foundation

/// Restarts this process with OPENBLAS_CORETYPE set when OpenBLAS did not
/// recognise the CPU and fell back to slow kernels (see `BLASKernels`); the
/// variable only takes effect when the library loads, hence the exec.
/// Does nothing when OPENBLAS_CORETYPE is already set (the user's choice wins).
public func relaunchWithFasterBLASKernelsIfNeeded() {
    guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
          let core = BLASKernels.betterCoreType() else { return }
    setenv("OPENBLAS_CORETYPE", core, 1)
    let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
    execv("/proc/self/exe", arguments)
    // exec failed: carry on with the slow kernels
}

