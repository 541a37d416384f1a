import CKernels

/// One fixed block of Float32 memory, allocated once and zeroed.
///
/// The model keeps all its parameters in ONE block (and all gradients in
/// another), and the layers read and write slices of it by offset, the way
/// llm.c does with `malloc`. A Swift `Array` would do for storage, but handing
/// out raw pointers to many slices of several arrays at once means nesting
/// `withUnsafeMutableBufferPointer` closures; a block whose address never
/// moves keeps the model code flat. Tests and callers still see `[Float]`
/// through `array` / `copy(from:)`.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    /// Where the memory came from, so deinit returns it the same way.
    private let streamed: Bool

    /// `streamed`: memory on huge pages (see `east_alloc_streamed`), for
    /// buffers that decoding reads end to end at every step.
    public init(count: Int, streamed: Bool = false) {
        self.count = count
        let raw = streamed ? east_alloc_streamed(max(count, 1) * MemoryLayout<Float>.stride) : nil
        self.streamed = raw != nil
        pointer = raw?.bindMemory(to: Float.self, capacity: max(count, 1)) ?? .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        copy(from: values)
    }

    deinit {
        if streamed { east_free_streamed(pointer) } else { pointer.deallocate() }
    }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    /// A pointer to element `offset` (the start of a tensor inside the block).
    @inline(__always) public func at(_ offset: Int) -> UnsafeMutablePointer<Float> {
        pointer + offset
    }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public func copy(from values: [Float]) {
        precondition(values.count == count, "FloatBuffer.copy: \(values.count) values for \(count) slots")
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }

    public func copy(from other: FloatBuffer) {
        precondition(other.count == count)
        pointer.update(from: other.pointer, count: count)
    }

    /// A copy of the whole block as an array.
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// A copy of `count` elements starting at `offset`.
    public func slice(_ offset: Int, _ count: Int) -> [Float] {
        Array(UnsafeBufferPointer(start: pointer + offset, count: count))
    }
}
