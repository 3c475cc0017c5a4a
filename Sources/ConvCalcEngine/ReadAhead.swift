#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Items made on a thread of their own, ahead of the thread that takes them (a streamed run
/// parses its next rows while the last ones are computed and printed).
public enum ReadAhead {
    /// The items waiting, and the producer's end, under one lock.
    final class Queue<Item> {
        var items: [Result<Item?, Error>] = []
        var stopped = false
        var mutex = pthread_mutex_t()
        var changed = pthread_cond_t()

        init() {
            pthread_mutex_init(&mutex, nil)
            pthread_cond_init(&changed, nil)
        }

        deinit {
            pthread_cond_destroy(&changed)
            pthread_mutex_destroy(&mutex)
        }

        func locked<R>(_ body: () -> R) -> R {
            pthread_mutex_lock(&mutex)
            defer {
                pthread_cond_broadcast(&changed)
                pthread_mutex_unlock(&mutex)
            }
            return body()
        }

        /// Waits (the lock held) until `ready` holds.
        func wait(until ready: () -> Bool) {
            while !ready() { pthread_cond_wait(&changed, &mutex) }
        }
    }

    /// Calls `produce` on a worker thread until it returns nil or throws, at most `ahead` items
    /// ahead, and hands the items to `take` here, in order. Returns true when every item was
    /// taken; false when `take` returned false (the worker is then left to end by itself: it
    /// may be waiting for input that never comes). The producer's error is thrown here after
    /// the items made before it are taken. Without a thread (`ahead` 0, or none to be had),
    /// the items are made here.
    public static func run<Item>(ahead: Int, produce: @escaping () throws -> Item?, take: (Item) throws -> Bool) throws -> Bool {
        let queue = Queue<Item>()
        #if canImport(Glibc) || canImport(Musl)
        let worker = ahead < 1 ? nil : WorkerThread.spawn {
            while true {
                let room = queue.locked { () -> Bool in
                    queue.wait { queue.items.count < ahead || queue.stopped }
                    return !queue.stopped
                }
                guard room else { return }
                let made = Result { try produce() }
                queue.locked { queue.items.append(made) }
                if case .success(nil) = made { return }
                if case .failure = made { return }
            }
        }
        #else
        let worker: pthread_t? = nil
        #endif
        guard let worker else {
            while let item = try produce() { guard try take(item) else { return false } }
            return true
        }
        var finished = false
        defer {
            if finished {
                pthread_join(worker, nil)
            } else {
                queue.locked { queue.stopped = true }
                pthread_detach(worker)
            }
        }
        while true {
            let next = queue.locked { () -> Result<Item?, Error> in
                queue.wait { !queue.items.isEmpty }
                return queue.items.removeFirst()
            }
            switch next {
            case .success(nil):
                finished = true
                return true
            case let .failure(error):
                finished = true
                throw error
            case let .success(item?):
                guard try take(item) else { return false }
            }
        }
    }
}
