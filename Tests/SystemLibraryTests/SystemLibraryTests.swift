import CHiredis
import COpenBLAS
import CRabbitMQ
import Testing

/// The module maps link and the headers expose what later code relies on.
@Suite struct SystemLibraryTests {
    @Test func openBLASMultipliesA2x2Matrix() {
        let a: [Float] = [1, 2, 3, 4]
        let b: [Float] = [5, 6, 7, 8]
        var c = [Float](repeating: 0, count: 4)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1, a, 2, b, 2, 0, &c, 2)
        #expect(c == [19, 22, 43, 50])
    }

    @Test func rabbitMQClientLibraryLoads() {
        let state = amqp_new_connection()
        #expect(state != nil)
        let socket = amqp_tcp_socket_new(state)
        #expect(socket != nil)
        amqp_destroy_connection(state)
        #expect(String(cString: amqp_version()).hasPrefix("0."))
    }

    @Test func hiredisReportsARefusedConnection() {
        // Port 1 on loopback is never a Redis server: the client must say so, not crash.
        let context = redisConnect("127.0.0.1", 1)
        #expect(context != nil)
        #expect(context?.pointee.err != 0)
        redisFree(context)
    }
}
