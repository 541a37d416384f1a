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

    /// Matmul splits a product into slices of C's rows (C taller than wide)
    /// or columns (wider than tall), one single-threaded sgemm each: every
    /// transpose, with leading dimensions wider than the matrices, sizes not
    /// multiples of the slice alignment (64 rows in 3 slices of 32 leave one
    /// empty), beta 0 and 1, against a Double
    /// reference. In a child process with 3 threads, so the slices are
    /// uneven (the thread count is process-wide, see above).
    @Test func splitProductsEqualTheWholeProduct() async {
        await #expect(processExitsWith: .success) {
            BLASThreads.set(3)
            for (M, N, K) in [(301, 45, 130), (37, 290, 200), (64, 64, 400)] {
                for transA in [false, true] {
                    for transB in [false, true] {
                        let lda = (transA ? M : K) + 3, ldb = (transB ? K : N) + 5, ldc = N + 2
                        let a = randomFloats((transA ? K : M) * lda, seed: 31), b = randomFloats((transB ? N : K) * ldb, seed: 32)
                        let c0 = randomFloats(M * ldc, seed: 33)
                        for beta: Float in [0, 1] {
                            let c = c0.mutated {
                                Matmul.gemm(transA: transA, transB: transB, M: M, N: N, K: K, alpha: 0.5,
                                            A: a, lda: lda, B: b, ldb: ldb, beta: beta, C: $0, ldc: ldc)
                            }
                            for i in 0..<M {
                                for j in 0..<ldc {
                                    guard j < N else {  // the padding beyond N stays as it was
                                        if c[i * ldc + j] != c0[i * ldc + j] { exit(2) }
                                        continue
                                    }
                                    var sum = 0.0
                                    for p in 0..<K {
                                        sum += Double(transA ? a[p * lda + i] : a[i * lda + p]) * Double(transB ? b[j * ldb + p] : b[p * ldb + j])
                                    }
                                    let expected = 0.5 * sum + Double(beta) * Double(c0[i * ldc + j])
                                    if abs(expected - Double(c[i * ldc + j])) > 1e-4 { exit(1) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// shareRanges cuts 0..<count into one contiguous range per thread, its
    /// starts multiples of `align`, every index in exactly one range, and
    /// stays on one thread below `minimum` items a thread. With 3 threads in
    /// a child process (the count is process-wide).
    @Test func shareRangesCoverEveryIndexOnce() async {
        await #expect(processExitsWith: .success) {
            BLASThreads.set(3)
            for (count, align, minimum) in [(0, 16, 1), (5, 1, 1), (100, 16, 1), (1000, 7, 10), (50_000, 16, 1 << 14), (20, 1, 64)] {
                let hits = UnsafeMutableBufferPointer<Int32>.allocate(capacity: max(count, 1))
                let starts = UnsafeMutableBufferPointer<Int32>.allocate(capacity: max(count, 1))  // 1 where a range starts
                hits.initialize(repeating: 0)
                starts.initialize(repeating: 0)
                nonisolated(unsafe) let (h, st) = (hits, starts)
                BLASThreads.shareRanges(count, align: align, minimum: minimum) { start, end in
                    st[start] = 1
                    for i in start..<end { h[i] += 1 }
                }
                if hits.prefix(count).contains(where: { $0 != 1 }) { exit(1) }
                let rangeStarts = (0..<count).filter { starts[$0] == 1 }
                if rangeStarts.contains(where: { $0 % align != 0 }) || rangeStarts.count > 3 { exit(2) }
                if count / minimum < 2 && rangeStarts.count > 1 { exit(3) }  // one thread: one range
                if count / minimum >= 3 && count >= 3 * align && rangeStarts.count != 3 { exit(4) }
                hits.deallocate(); starts.deallocate()
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
