import CKernels
import Foundation
import Synchronization

/// Threads kept for the decode step's parallel loops (`BLASThreads.shareOut`).
///
/// A decode step at batch 1 hands work to the second thread about 150 times
/// per token (five products a layer, and the head), each a few tens of
/// microseconds of work. `DispatchQueue.concurrentPerform` wakes a parked
/// libdispatch thread for each, which costs about as much as the work. These
/// workers spin between loops instead, for `spinBudget`, then park on a
/// condition until the next loop: a decode loop finds them awake, an idle
/// sampler costs nothing. The split of the work is the caller's, so results
/// are the same bits as with any other way of running the parts.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    init() {}

    /// How long an idle worker spins before it parks (a decode step's serial
    /// parts, its norms, attention at batch 1, token choice, take less).
    static let spinBudget: UInt64 = 200_000  // ns

    /// The job's serial number times 256 plus its number of parts, bumped
    /// (releasing) once the job is in place; workers wait for a change. A
    /// worker without a part (index >= parts) touches nothing else.
    private let generation = Atomic<Int>(0)
    /// Parts on workers not yet finished.
    private let remaining = Atomic<Int>(0)
    /// The current job: part index -> work; parts 1... go to the workers.
    private var job: ((Int) -> Void)?
    static let maxParts = 255
    /// Parked workers wait here; `parked` counts them.
    private let condition = NSCondition()
    private var parked = 0
    private var workers = 0
    /// One job at a time: a caller that finds the pool busy runs its parts itself.
    private let submit = NSLock()

    /// Runs `body(part)` for every part in 0..<count, part 0 on the calling
    /// thread, the others on the pool's workers; returns when all are done.
    func run(_ count: Int, _ body: (Int) -> Void) {
        precondition(count <= Self.maxParts, "WorkerPool: \(count) parts")
        guard count > 1 else {
            if count == 1 { body(0) }
            return
        }
        // Busy (another thread's loop, or a loop inside a part): run the
        // parts here, one after another. Same parts, so the same bits.
        guard submit.try() else {
            for part in 0..<count { body(part) }
            return
        }
        defer { submit.unlock() }
        grow(to: count - 1)
        withoutActuallyEscaping(body) { body in
            job = body
            remaining.store(count - 1, ordering: .relaxed)
            let serial = generation.load(ordering: .relaxed) >> 8 + 1
            generation.store(serial << 8 | count, ordering: .releasing)
            condition.lock()
            if parked > 0 { condition.broadcast() }
            condition.unlock()
            body(0)
            var spins = 0
            while remaining.load(ordering: .acquiring) > 0 {
                east_cpu_relax()
                spins += 1
                if spins & 1023 == 0 { sched_yield() }  // a worker descheduled on a loaded machine
            }
            job = nil
        }
    }

    /// Starts workers until there are `count`.
    private func grow(to count: Int) {
        while workers < count {
            workers += 1
            let index = workers, seen = generation.load(ordering: .acquiring)
            let thread = Thread { [self] in work(index: index, seen: seen) }
            thread.name = "east-worker-\(index)"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    private func work(index: Int, seen start: Int) {
        var seen = start
        while true {
            // Spin for the next job, then park.
            var current = generation.load(ordering: .acquiring)
            if current == seen {
                let deadline = DispatchTime.now().uptimeNanoseconds + Self.spinBudget
                var spins = 0
                while current == seen {
                    east_cpu_relax()
                    spins += 1
                    if spins & 255 == 0, DispatchTime.now().uptimeNanoseconds > deadline {
                        condition.lock()
                        parked += 1
                        while generation.load(ordering: .acquiring) == seen { condition.wait() }
                        parked -= 1
                        condition.unlock()
                    }
                    current = generation.load(ordering: .acquiring)
                }
            }
            seen = current
            // A job has fewer parts than there are workers when a caller asked for fewer threads.
            if index < current & 0xFF {
                job!(index)
                remaining.subtract(1, ordering: .releasing)
            }
        }
    }
}
