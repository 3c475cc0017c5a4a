#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(Glibc) || canImport(Musl)
/// A POSIX thread running a closure.
enum WorkerThread {
    final class Job {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Starts `body` on a new thread, to be joined; when no thread can be had, runs it here
    /// and returns nil.
    static func start(_ body: @escaping () -> Void) -> pthread_t? {
        guard let thread = spawn(body) else {
            body()
            return nil
        }
        return thread
    }

    /// Starts `body` on a new thread, to be joined; nil (and `body` not run) when no thread
    /// can be had (`ulimit -u`, a cgroup's pids.max, a stack that does not fit `ulimit -v`).
    static func spawn(_ body: @escaping () -> Void) -> pthread_t? {
        let job = Unmanaged.passRetained(Job(body)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { raw in
            Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, job)
        guard status == 0 else {
            Unmanaged<Job>.fromOpaque(job).release()
            return nil
        }
        return thread
    }
}
#endif

/// Runs `body` on `count` items split into contiguous ranges, one thread per range.
public enum ParallelRanges {
    public static func run(count: Int, threads: Int, _ body: @escaping (Range<Int>) -> Void) {
        let parts = max(1, min(threads, count))
        guard parts > 1 else {
            body(0..<count)
            return
        }
        let ranges = (0..<parts).map { p in (p * count / parts)..<((p + 1) * count / parts) }
        #if canImport(Glibc) || canImport(Musl)
        if WorkerPool.shared.run(ranges.dropFirst().map { range in { body(range) } }, here: { body(ranges[0]) }) { return }
        let started = ranges.dropFirst().compactMap { range in WorkerThread.start { body(range) } }
        body(ranges[0])
        for thread in started { pthread_join(thread, nil) }
        #else
        for range in ranges { body(range) }
        #endif
    }
}

/// Runs `body` on `threads` threads that take the items `0..<count` one at a time: thread t
/// takes the items of its own share (`t·count/threads` up to the next thread's), in order,
/// then the last items left in the largest share of another thread, until none is left. A
/// thread slowed by other work on its core takes fewer items instead of holding the others up
/// (as a static split does), and neighbouring items mostly go to the same thread: neighbouring
/// blocks of positions write the same cache lines at their edges (an output row not aligned to
/// 64 bytes), which two cores writing at once pass back and forth.
public enum SharedItems {
    /// Each thread's items left, behind a lock (a few dozen items a run: the lock is cheap
    /// beside an item's work, and it needs no module beyond the C library).
    final class Shares {
        private var next: [Int]
        private var end: [Int]
        private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

        init(count: Int, threads: Int) {
            next = (0..<threads).map { $0 * count / threads }
            end = (0..<threads).map { ($0 + 1) * count / threads }
            pthread_mutex_init(lock, nil)
        }

        deinit {
            pthread_mutex_destroy(lock)
            lock.deallocate()
        }

        /// Thread t's next item: the next of its own share, else the last of the largest
        /// share left; nil once every share is taken.
        func take(_ t: Int) -> Int? {
            pthread_mutex_lock(lock)
            defer { pthread_mutex_unlock(lock) }
            if next[t] < end[t] {
                next[t] += 1
                return next[t] - 1
            }
            guard let u = end.indices.max(by: { end[$0] - next[$0] < end[$1] - next[$1] }), next[u] < end[u] else { return nil }
            end[u] -= 1
            return end[u]
        }
    }

    /// `body(take)` on each thread; `take()` returns the thread's next item, nil once all are taken.
    public static func run(count: Int, threads: Int, _ body: @escaping (_ take: () -> Int?) -> Void) {
        let parts = max(1, min(threads, count))
        let shares = Shares(count: count, threads: parts)
        ParallelRanges.run(count: parts, threads: parts) { range in
            for t in range { body { shares.take(t) } }
        }
    }
}

/// Parts made on worker threads and taken in order by the calling thread as each is ready:
/// printing overlaps writing (part k is written while later parts are still being made).
public enum OrderedParts {
    /// Parts made ahead of the one being taken, per thread: what is held in memory at once is
    /// at most `threads · aheadPerThread` parts, whatever the count (a slow reader, such as a
    /// full pipe, does not make the whole output pile up).
    public static let aheadPerThread = 2

    /// Makes parts `0..<count` with `make` on `threads` threads (part p on thread p mod threads)
    /// and hands them to `take` in order; part p is made only once part p − threads·aheadPerThread
    /// has been taken. `take` returning false stops the taking, and the parts not yet made are
    /// then skipped. Returns whether every part was taken.
    public static func run<Part>(count: Int, threads: Int, make: @escaping (Int) -> Part, take: (Part) -> Bool) -> Bool {
        #if canImport(Glibc) || canImport(Musl)
        let workers = max(1, min(threads, count))
        let window = workers * aheadPerThread
        let parts = UnsafeMutablePointer<Part?>.allocate(capacity: max(count, 1))
        parts.initialize(repeating: nil, count: count)
        // ready[p]: part p is made (or skipped); taken[p]: part p is taken (or the taking stopped).
        let ready = Semaphores(count), taken = Semaphores(count), stopped = Semaphores(1)
        defer {
            parts.deinitialize(count: count)
            parts.deallocate()
        }
        // A worker that cannot be started leaves its parts to the taking thread (it cannot run
        // inline: it would wait for parts to be taken before the taking has begun).
        let started = (0..<workers).map { w in
            WorkerThread.spawn {
                for p in stride(from: w, to: count, by: workers) {
                    if p >= window { taken.wait(p - window) }
                    if !stopped.isPosted(0) { parts[p] = make(p) }
                    ready.post(p)
                }
            }
        }
        var taking = true
        for p in 0..<count where taking {
            if started[p % workers] == nil {
                parts[p] = make(p)
            } else {
                ready.wait(p)
            }
            taking = take(parts[p]!)
            parts[p] = nil
            taken.post(p)
            if !taking {
                // Free every worker still waiting for a part to be taken; they skip the rest.
                stopped.post(0)
                for q in (p + 1)..<max(count, p + 1) { taken.post(q) }
            }
        }
        for thread in started.compactMap({ $0 }) { pthread_join(thread, nil) }
        return taking
        #else
        for p in 0..<count where !take(make(p)) { return false }
        return true
        #endif
    }
}

/// Large arrays of doubles created without a first pass of zeros: the code that fills them
/// writes every element once. (Huge pages, `madvise(MADV_HUGEPAGE)`, were measured too: the
/// first write got faster on average but stalled for 30 ms at times while the kernel
/// compacted memory, so they are not used.)
public enum LargeArray {
    /// `count` doubles, every one written by `body` (which must write them all).
    public static func doubles(count: Int, _ body: (UnsafeMutablePointer<Double>) -> Void) -> [Double] {
        [Double](unsafeUninitializedCapacity: max(count, 1)) { buffer, initialized in
            body(buffer.baseAddress!)
            initialized = count
        }
    }

    /// Maps the pages of `count` doubles from `pointer` on before they are written, in one
    /// call a thread (`madvise(MADV_POPULATE_WRITE)`, Linux 5.14): a page costs about 1.05
    /// microseconds that way here, against 1.55 for a fault on its first write. Nothing
    /// happens where the call is refused (an older kernel): the writes then fault as before.
    public static func populate(_ pointer: UnsafeMutablePointer<Double>, count: Int, threads: Int) {
        #if os(Linux)
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard page > 0, count > 0 else { return }
        // The whole pages inside the array (the others may hold other allocations: untouched).
        let first = (Int(bitPattern: pointer) + page - 1) / page * page, end = Int(bitPattern: pointer + count) / page * page
        guard end > first else { return }
        let pages = (end - first) / page
        let parts = max(1, min(threads, pages / 64))
        ParallelRanges.run(count: parts, threads: parts) { range in
            for part in range {
                let (from, to) = (first + part * pages / parts * page, first + (part + 1) * pages / parts * page)
                _ = madvise(UnsafeMutableRawPointer(bitPattern: from), to - from, 23)   // MADV_POPULATE_WRITE
            }
        }
        #endif
    }

    /// Up to `capacity` doubles, as many as `body` writes and returns.
    public static func doubles(capacity: Int, _ body: (UnsafeMutablePointer<Double>) -> Int) -> [Double] {
        [Double](unsafeUninitializedCapacity: max(capacity, 1)) { buffer, initialized in
            initialized = body(buffer.baseAddress!)
        }
    }
}

#if canImport(Glibc) || canImport(Musl)
/// Threads kept between parallel regions, waiting on a semaphore for their next job:
/// starting a thread and joining it costs about 45 microseconds here, a tenth of a 256-channel
/// 1×1 layer's arithmetic on two cores, and a run starts several regions. One region uses the
/// pool at a time; a region started while it is in use (nested, or on another thread)
/// starts threads of its own, as before.
final class WorkerPool {
    static let shared = WorkerPool()

    /// A pooled thread: runs `job` each time signal 0 is posted, then posts signal 1.
    final class Worker {
        let signals = Semaphores(2)
        var job: (() -> Void)?

        /// Nil when no thread can be had.
        init?() {
            let started = WorkerThread.spawn { [signals] in
                while true {
                    signals.wait(0, spinning: WorkerPool.spinTime)
                    self.job?()
                    signals.post(1)
                }
            }
            guard let thread = started else { return nil }
            pthread_detach(thread)
        }
    }

    /// How long a pooled thread (and the thread waiting for it) polls its semaphore before
    /// it sleeps on it, in nanoseconds: a thread woken from sleep took 0.05 to 0.9 ms to start
    /// on this two-core virtual machine (its idle core halts), against about 70 microseconds
    /// for a block of a 256-channel 1×1 layer. OpenMP runtimes poll the same way (GNU
    /// `GOMP_SPINCOUNT`, Intel `KMP_BLOCKTIME`); the regions of one run are at most a few
    /// milliseconds apart, so the pool's thread stays awake through them.
    static let spinTime = 2_000_000

    private var workers: [Worker] = []
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    private init() { pthread_mutex_init(lock, nil) }

    /// Runs `jobs` on pooled threads and `here` on this one, and returns when all are done;
    /// false (nothing run) when the pool is in use or its threads cannot be had.
    func run(_ jobs: [() -> Void], here: () -> Void) -> Bool {
        guard pthread_mutex_trylock(lock) == 0 else { return false }
        defer { pthread_mutex_unlock(lock) }
        while workers.count < jobs.count {
            guard let worker = Worker() else { return false }
            workers.append(worker)
        }
        for (worker, job) in zip(workers, jobs) {
            worker.job = job
            worker.signals.post(0)
        }
        here()
        for worker in workers.prefix(jobs.count) {
            worker.signals.wait(1, spinning: WorkerPool.spinTime)
            worker.job = nil
        }
        return true
    }
}

/// `count` POSIX semaphores, each starting at 0.
final class Semaphores {
    private let semaphores: UnsafeMutablePointer<sem_t>
    private let count: Int

    init(_ count: Int) {
        self.count = count
        semaphores = .allocate(capacity: max(count, 1))
        for i in 0..<count { sem_init(semaphores + i, 0, 0) }
    }

    deinit {
        for i in 0..<count { sem_destroy(semaphores + i) }
        semaphores.deallocate()
    }

    func post(_ i: Int) { sem_post(semaphores + i) }

    /// Waits for semaphore `i` (again after an interruption, EINTR).
    func wait(_ i: Int) { while sem_wait(semaphores + i) != 0 {} }

    /// Waits for semaphore `i`, polling it for up to `nanoseconds` before sleeping on it.
    func wait(_ i: Int, spinning nanoseconds: Int) {
        var start = timespec(), now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        while true {
            for _ in 0..<64 where sem_trywait(semaphores + i) == 0 { return }
            sched_yield()   // a thread waiting for this core (a reader, a writer) runs first
            clock_gettime(CLOCK_MONOTONIC, &now)
            if (now.tv_sec - start.tv_sec) * 1_000_000_000 + (now.tv_nsec - start.tv_nsec) > nanoseconds { break }
        }
        wait(i)
    }

    /// Whether semaphore `i` has been posted and not waited for.
    func isPosted(_ i: Int) -> Bool {
        var value: Int32 = 0
        sem_getvalue(semaphores + i, &value)
        return value > 0
    }
}
#endif

/// Arrays of doubles pinned for a call: their base addresses are valid exactly while `body`
/// runs (pointers never leave a `withUnsafeBufferPointer` closure).
public enum Pinned {
    /// At most this many arrays are pinned by nesting (four a stack frame); more are copied
    /// into one contiguous array first (inputs with thousands of channels).
    static let nestingLimit = 512

    /// Calls `body` with the base address of each of `arrays` (none may be empty).
    public static func baseAddresses<R>(_ arrays: [[Double]], _ body: ([UnsafePointer<Double>]) -> R) -> R {
        baseAddresses(of: arrays, { $0 }, body)
    }

    /// Calls `body` with the base address of `values(item)` for each of `items` (none may be
    /// empty): four arrays pinned a stack frame, up to `nestingLimit` arrays; more are copied
    /// into one contiguous array first (inputs with thousands of channels).
    public static func baseAddresses<Item, R>(of items: [Item], _ values: (Item) -> [Double], _ body: ([UnsafePointer<Double>]) -> R) -> R {
        guard items.count <= nestingLimit else {
            let flat = items.flatMap(values)
            var offset = 0
            let offsets = items.map { item -> Int in
                defer { offset += values(item).count }
                return offset
            }
            return flat.withUnsafeBufferPointer { buffer in body(offsets.map { buffer.baseAddress! + $0 }) }
        }
        let table = UnsafeMutablePointer<UnsafePointer<Double>>.allocate(capacity: max(1, items.count))
        defer { table.deallocate() }
        return items.withUnsafeBufferPointer { all in
            func pin(_ index: Int) -> R {
                guard index < all.count else { return body(Array(UnsafeBufferPointer(start: table, count: all.count))) }
                return values(all[index]).withUnsafeBufferPointer { b0 in
                    table[index] = b0.baseAddress!
                    guard index + 1 < all.count else { return pin(index + 1) }
                    return values(all[index + 1]).withUnsafeBufferPointer { b1 in
                        table[index + 1] = b1.baseAddress!
                        guard index + 2 < all.count else { return pin(index + 2) }
                        return values(all[index + 2]).withUnsafeBufferPointer { b2 in
                            table[index + 2] = b2.baseAddress!
                            guard index + 3 < all.count else { return pin(index + 3) }
                            return values(all[index + 3]).withUnsafeBufferPointer { b3 in
                                table[index + 3] = b3.baseAddress!
                                return pin(index + 4)
                            }
                        }
                    }
                }
            }
            return pin(0)
        }
    }

    /// Calls `body` with a table of the base addresses of `arrays` (none may be empty), each
    /// pinned by a nested call (four arrays a stack frame: the caller bounds the count; a
    /// mutable array cannot be stood in for by a copy).
    public static func mutableBaseAddresses<R>(_ arrays: inout [[Double]], _ body: (UnsafePointer<UnsafeMutablePointer<Double>>) -> R) -> R {
        let table = UnsafeMutablePointer<UnsafeMutablePointer<Double>>.allocate(capacity: max(1, arrays.count))
        defer { table.deallocate() }
        return arrays.withUnsafeMutableBufferPointer { all in
            // Four arrays a stack frame, as `baseAddresses(of:_:_:)`.
            func pin(_ index: Int) -> R {
                guard index < all.count else { return body(table) }
                return all[index].withUnsafeMutableBufferPointer { b0 in
                    table[index] = b0.baseAddress!
                    guard index + 1 < all.count else { return pin(index + 1) }
                    return all[index + 1].withUnsafeMutableBufferPointer { b1 in
                        table[index + 1] = b1.baseAddress!
                        guard index + 2 < all.count else { return pin(index + 2) }
                        return all[index + 2].withUnsafeMutableBufferPointer { b2 in
                            table[index + 2] = b2.baseAddress!
                            guard index + 3 < all.count else { return pin(index + 3) }
                            return all[index + 3].withUnsafeMutableBufferPointer { b3 in
                                table[index + 3] = b3.baseAddress!
                                return pin(index + 4)
                            }
                        }
                    }
                }
            }
            return pin(0)
        }
    }
}
