import CKernels

/// Which kernels this process decodes and trains with. The paths round
/// differently, so the same policy samples other bits on another path: run
/// records name it, and reused samples are addressed by it.
public enum KernelPath {
    /// e.g. "avx512 openblas-SkylakeX", "portable openblas-Haswell".
    public static var current: String {
        (east_kernels_available() != 0 ? "avx512" : "portable") + " openblas-" + BLASKernels.coreName
    }
}
