import COpenBLAS
import Synchronization

/// The engine's thread count. Several workers on one machine (two samplers,
/// a trainer) should each use one thread rather than all fight for every core.
///
/// OpenBLAS itself always runs on one thread: `Matmul` splits a product into
/// slices of the output and runs one single-threaded sgemm per slice on
/// `WorkerPool`'s threads, as the decode kernels do. Measured on the model's
/// shapes (2 threads, 1024 rows, SkylakeX kernels): the q projection 2.7 ->
/// 2.35 ms, k 1.05 -> 0.85 ms, a LoRA factor 0.25 -> 0.17 ms, against
/// OpenBLAS's own threading; and OpenBLAS's idle thread no longer spins and
/// yields while the caller runs the layers' elementwise work.
public enum BLASThreads {
    /// 0 until first read or set: then OpenBLAS's own default (its
    /// OPENBLAS_NUM_THREADS or the core count), read once.
    private static let count = Atomic<Int>(0)

    /// Sets the number of threads for every later product and parallel loop in this process.
    public static func set(_ threads: Int) {
        _ = current  // takes OpenBLAS's default first, so a later read cannot overwrite this
        openblas_set_num_threads(1)
        count.store(max(1, threads), ordering: .relaxed)
    }

    /// The number of threads the engine uses.
    public static var current: Int {
        let n = count.load(ordering: .relaxed)
        if n > 0 { return n }
        let initial = max(1, Int(openblas_get_num_threads()))
        openblas_set_num_threads(1)
        _ = count.compareExchange(expected: 0, desired: initial, ordering: .relaxed)
        return count.load(ordering: .relaxed)
    }

    /// Runs `body(item, thread)` for every item in 0..<count, shared out
    /// over up to `limit` of `current` threads (item i on thread i mod the
    /// thread count; `thread` indexes per-thread scratch), or all on the
    /// calling thread when one thread is set. For the engine's own parallel
    /// loops, so they follow the same thread setting as the products; on
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

    /// Runs `body(start, end)` over 0..<count cut into one contiguous range
    /// per thread (starts multiples of `align`), for elementwise loops: on
    /// one thread below `minimum` items a thread.
    public static func shareRanges(_ count: Int, align: Int = 16, minimum: Int = 1 << 14,
                                   _ body: @Sendable (_ start: Int, _ end: Int) -> Void) {
        shareRanges(count, parts: min(current, count / max(minimum, 1)), align: align, body)
    }

    /// Runs `body(start, end)` over 0..<count cut into `parts` contiguous
    /// ranges of equal length rounded up to a multiple of `align` (the last
    /// shorter, trailing ones empty and skipped), one per `WorkerPool` part;
    /// all on the calling thread when `parts` is 1 or less.
    public static func shareRanges(_ count: Int, parts: Int, align: Int,
                                   _ body: @Sendable (_ start: Int, _ end: Int) -> Void) {
        guard parts > 1 else {
            if count > 0 { body(0, count) }
            return
        }
        let per = (count + parts - 1) / parts
        let step = (per + align - 1) / align * align
        WorkerPool.shared.run(parts) { t in
            let start = t * step, end = min(count, start + step)
            if start < end { body(start, end) }
        }
    }
}
