import EASTEngine
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
}
