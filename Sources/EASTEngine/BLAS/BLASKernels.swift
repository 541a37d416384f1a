import COpenBLAS
import Foundation

/// Which CPU kernels OpenBLAS runs.
///
/// Debian's OpenBLAS (0.3.21, built with DYNAMIC_ARCH) picks kernels from the
/// CPU model number. It does not know recent Xeons (family 6 model 207, for
/// one) and falls back to the SSE3 "Prescott" kernels: sgemm then runs at
/// ~30 GFLOP/s instead of ~150 (AVX-512) on one core. OpenBLAS reads the
/// choice from the environment variable OPENBLAS_CORETYPE when it loads, so
/// the fix has to happen before the process starts (see `east`'s relaunch).
public enum BLASKernels {
    /// The kernel set in use, e.g. "SkylakeX", "Haswell", or "Prescott".
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Kernel sets that use AVX2 or AVX-512; anything else is a fallback.
    static let vectorCores: Set<String> = ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"]

    /// The OPENBLAS_CORETYPE the CPU supports, when OpenBLAS fell back to
    /// slower kernels than that; nil when the current choice is fine.
    public static func betterCoreType() -> String? {
        guard !vectorCores.contains(coreName),
              let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return nil }
        let flags = Set(flagLine.split(separator: " ").map(String.init))
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }
}
