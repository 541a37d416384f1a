import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A thread that can be waited for. `join()` returns once the body has
/// returned and the thread has released everything the body held. A process
/// joins the threads it started before it exits: a thread that still drops
/// the last reference to a connection (closing rabbitmq-c's or hiredis's
/// socket, OpenSSL's session) while `exit()` runs those libraries' and
/// OpenBLAS's destructors on the main thread corrupts the heap, and glibc
/// aborts at shutdown, after the work is done.
public final class JoinableThread: @unchecked Sendable {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    private var thread = pthread_t()
    private let lock = NSLock()
    private var joined = false

    public init(name: String, stackSize: Int = 16 << 20, _ body: @escaping @Sendable () -> Void) {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, stackSize)
        let name = String(decoding: name.utf8.prefix(15), as: UTF8.self)
        let box = Unmanaged.passRetained(Body { Thread.current.name = name; body() }).toOpaque()
        let rc = pthread_create(&thread, &attributes, { raw in
            // Taken and released inside this function, so before the thread ends.
            Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed for thread \(name): \(rc)")
    }

    /// Waits for the thread to end (at once if it has). From the thread
    /// itself it returns at once (a thread cannot wait for its own end).
    public func join() {
        lock.lock()
        defer { lock.unlock() }
        guard !joined, pthread_equal(thread, pthread_self()) == 0 else { return }
        pthread_join(thread, nil)
        joined = true
    }
}

/// A value behind a lock, for a thread to hand to another.
public final class LockedValue<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    public init(_ value: Value) { stored = value }

    public var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
