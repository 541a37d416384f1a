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

    /// Runs `body(item, thread)` for every item in 0..<count, shared out
    /// over up to `limit` of `current` threads (item i on thread i mod the
    /// thread count; `thread` indexes per-thread scratch), or all on the
    /// calling thread when one thread is set. For the decode step's own
    /// parallel loops, so they follow the same thread setting as BLAS; on
    /// `WorkerPool`'s threads, which stay awake between loops.
    public static func shareOut(_ count: Int, limit: Int = .max, _ body: @Sendable (_ item: Int, _ thread: Int) -> Void) {
        let threads = max(1, min(current, count, limit))
        if threads == 1 {
            for item in 0..<count { body(item, 0) }
            return
        }
        WorkerPool.shared.run(threads) { thread in
            for item in stride(from: thread, to: count, by: threads) { body(item, thread) }
        }
    }
}
