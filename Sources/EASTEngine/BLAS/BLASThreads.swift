import COpenBLAS

/// OpenBLAS thread control. Several workers on one machine (two samplers, a
/// trainer) should each use one thread rather than all fight for every core.
public enum BLASThreads {
    /// Sets the number of threads OpenBLAS uses for every later call in this process.
    public static func set(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// The number of threads OpenBLAS currently uses.
    public static var current: Int { Int(openblas_get_num_threads()) }
}
