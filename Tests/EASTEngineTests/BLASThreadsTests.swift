@testable import EASTEngine
import Foundation
import Testing

@Suite struct BLASThreadsTests {
    /// The thread count is process-wide, and the tests of this process run in
    /// parallel: OpenBLAS's sgemm gives other bits with 1 and 2 threads, so
    /// changing it here would change the numbers of a test that compares two
    /// runs. The setting is therefore changed only in a child process (an
    /// exit test).
    @Test func threadCountCanBeSet() async {
        await #expect(processExitsWith: .success) {
            for count in [1, 2, 1] {
                BLASThreads.set(count)
                if BLASThreads.current != count { exit(1) }
            }
        }
    }

    /// Every part of every job runs exactly once, whatever the number of
    /// parts (more or fewer than the workers), from several calling threads
    /// at once (a busy pool runs a caller's parts on the caller) and from
    /// inside a part.
    @Test func workerPoolRunsEveryPartOnce() {
        let pool = WorkerPool()
        let callers = 3, jobs = 400, maxParts = 5
        // slot (caller, job, part): written by that part only
        let slots = UnsafeMutableBufferPointer<Int32>.allocate(capacity: callers * jobs * maxParts)
        slots.initialize(repeating: 0)
        defer { slots.deallocate() }
        nonisolated(unsafe) let counts = slots
        DispatchQueue.concurrentPerform(iterations: callers) { caller in
            for job in 0..<jobs {
                let parts = 1 + (job + caller) % maxParts
                pool.run(parts) { part in counts[(caller * jobs + job) * maxParts + part] += 1 }
            }
        }
        var wrong = 0
        for caller in 0..<callers {
            for job in 0..<jobs {
                let parts = 1 + (job + caller) % maxParts
                for part in 0..<maxParts where counts[(caller * jobs + job) * maxParts + part] != (part < parts ? 1 : 0) { wrong += 1 }
            }
        }
        #expect(wrong == 0)
        nonisolated(unsafe) var inner = [0, 0, 0]
        pool.run(2) { part in
            if part == 0 { pool.run(3) { inner[$0] += 1 } }
        }
        #expect(inner == [1, 1, 1])
    }
}
