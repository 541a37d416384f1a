import EASTEngine
import Testing

@Suite struct BLASThreadsTests {
    @Test func threadCountCanBeSet() {
        BLASThreads.set(1)
        #expect(BLASThreads.current == 1)
    }
}
