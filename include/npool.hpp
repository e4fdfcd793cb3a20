/*
 * npool.hpp - the C++ binding of npool (C++17, header-only, namespace np).
 *
 * It adds no library: every call below is one of npool.h's, and npool.h's
 * threading contract and error convention hold, turned into C++ terms:
 *
 *   - failures are exceptions: std::bad_alloc for no memory (and for a call
 *     on an empty np::pool, one moved from or released), std::invalid_argument
 *     for what npool.h reports as EINVAL at creation;
 *   - memory belongs to the pool and lives until np_reset or np_destroy, as in
 *     C; objects built with np::make and np::make_array are destroyed there,
 *     newest first, through the pool's cleanups (np_cleanup_push); memory
 *     taken from a pool while its reset runs the destructors goes when that
 *     reset ends (np_resetting), except np::make's and np::make_array's,
 *     which then come from operator new and live until the next reset;
 *   - "which thread" is npool.h's table: a non-shared pool one thread at a
 *     time, a shared pool (np::pool::shared) any thread, a thread pool
 *     (np::thread_resource) its own thread only.
 *
 * The small/large rule of the memory resource and the allocator: a request
 * of at most np_max_small(pool) bytes with an alignment of at most
 * NP_ALIGNMENT comes from the pool's blocks (np_alloc, the inline fast path)
 * and its deallocation does nothing (O(1): the memory goes at reset); any
 * other request is a large allocation (np_memalign) that deallocation gives
 * back at once with np_free.
 *
 * Compile with -std=c++17 and link with libnpool:
 *   g++ -std=c++17 prog.cc $(pkg-config --cflags --libs npool)
 */
#ifndef NPOOL_HPP
#define NPOOL_HPP

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory_resource>
#include <new>
#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "npool.h"

#if __cplusplus < 201703L
#error "npool.hpp needs C++17 (-std=c++17)"
#endif

namespace np {

namespace detail {

/* The exception for errno err after a failed creation. */
[[noreturn]] inline void throw_create_error(int err)
{
    if (err == EINVAL)
        throw std::invalid_argument("npool: invalid pool configuration (EINVAL)");
    throw std::bad_alloc();
}

/* Whether a request of size bytes aligned to align is served by the pool's blocks. */
inline bool is_small(np_pool_t *p, std::size_t size, std::size_t align) noexcept
{
    return align <= NP_ALIGNMENT && size <= np_max_small(p);
}

/* size bytes aligned to align (a power of two) for an object: np_alloc, or
 * np_memalign when align > NP_ALIGNMENT.  Throws std::bad_alloc. */
inline void *alloc_object(np_pool_t *p, std::size_t size, std::size_t align)
{
    void *m = align > NP_ALIGNMENT ? np_memalign(p, size, align) : np_alloc(p, size);
    if (m == nullptr)
        throw std::bad_alloc();
    return m;
}

/* Give back what alloc_object returned, if it was a large allocation. */
inline void free_object(np_pool_t *p, void *m, std::size_t size, std::size_t align) noexcept
{
    if (!is_small(p, size, align))
        (void)np_free(p, m);
}

/* The resource's and the allocator's rule (see the top of this file), with
 * the pool's small limit max (np_max_small never changes for a pool). */
inline void *alloc_rule(np_pool_t *p, std::size_t max, std::size_t bytes, std::size_t align)
{
    void *m;
    if (align <= NP_ALIGNMENT && bytes <= max)
        m = np_alloc(p, bytes);
    else
        m = np_memalign(p, bytes, align > NP_ALIGNMENT ? align : std::size_t{NP_ALIGNMENT});
    if (m == nullptr)
        throw std::bad_alloc();
    return m;
}

inline void free_rule(np_pool_t *p, std::size_t max, void *m, std::size_t bytes,
                      std::size_t align) noexcept
{
    if (align > NP_ALIGNMENT || bytes > max)
        (void)np_free(p, m);
}

inline void *alloc_rule(np_pool_t *p, std::size_t bytes, std::size_t align)
{
    return alloc_rule(p, np_max_small(p), bytes, align);
}

inline void free_rule(np_pool_t *p, void *m, std::size_t bytes, std::size_t align) noexcept
{
    free_rule(p, np_max_small(p), m, bytes, align);
}

/* This thread's pool (np_thread_pool), or std::bad_alloc. */
inline np_pool_t *thread_pool()
{
    np_pool_t *p = np_thread_pool();
    if (p == nullptr)
        throw std::bad_alloc();
    return p;
}

/* Cleanup thunks: noexcept, so that a throwing destructor terminates
 * instead of unwinding through the library's C frames. */
template <class T> void destroy_one(void *obj) noexcept
{
    static_cast<T *>(obj)->~T();
}

template <class T> struct array_record {
    T *first;
    std::size_t count;
};

/* Destroy first[count-1] down to first[0]. */
template <class T> void destroy_reverse(T *first, std::size_t count) noexcept
{
    while (count > 0)
        first[--count].~T();
}

/* Value-initialise first[0 .. n); if element k throws, destroy k-1 .. 0 and rethrow. */
template <class U> void construct_n(U *first, std::size_t n)
{
    std::size_t k = 0;
    try {
        for (; k < n; k++)
            ::new (static_cast<void *>(first + k)) U();
    } catch (...) {
        destroy_reverse(first, k);
        throw;
    }
}

template <class T> void destroy_array(void *rec) noexcept
{
    array_record<T> *r = static_cast<array_record<T> *>(rec);
    destroy_reverse(r->first, r->count);
}

/*
 * Objects made while np_reset runs the pool's cleanups (np_resetting: a
 * destructor that np::make's an object during a reset).  The reset releases
 * the pool's memory when it ends, so such an object lives on the heap until
 * its cleanup, which runs at the next reset or destroy, destroys it and
 * gives the storage back.  An array's block is its record, then the
 * elements.
 */
template <class U> constexpr std::size_t heap_align() noexcept
{
    return alignof(U) > alignof(array_record<U>) ? alignof(U) : alignof(array_record<U>);
}

template <class U> constexpr std::size_t heap_elements_at() noexcept
{
    return (sizeof(array_record<U>) + alignof(U) - 1) / alignof(U) * alignof(U);
}

template <class U> void destroy_heap_one(void *obj) noexcept
{
    static_cast<U *>(obj)->~U();
    ::operator delete(obj, std::align_val_t(alignof(U)));
}

template <class U> void destroy_heap_array(void *rec) noexcept
{
    array_record<U> *r = static_cast<array_record<U> *>(rec);
    if constexpr (!std::is_trivially_destructible_v<U>)
        destroy_reverse(r->first, r->count);
    ::operator delete(rec, std::align_val_t(heap_align<U>()));
}

/* A (T) initialiser when T has that constructor, else a braced one (aggregates). */
template <class T, class... Args> T *construct_at(void *m, Args &&...args)
{
    if constexpr (std::is_constructible_v<T, Args...>)
        return ::new (m) T(std::forward<Args>(args)...);
    else
        return ::new (m) T{std::forward<Args>(args)...};
}

} // namespace detail

/*
 * An owned npool pool (np_pool_t): created by the constructors, destroyed by
 * the destructor (np_destroy: the cleanups run, np::make's destructors among
 * them, newest first).  Move-only; a moved-from pool is empty (get() is
 * nullptr) and its destructor does nothing.
 */
class pool {
public:
    /*
     * A non-shared pool of block_size-byte blocks (0: NP_DEFAULT_POOL_SIZE):
     * np_create.  Any thread; the pool is then used by one thread at a time.
     * Throws std::invalid_argument if block_size < NP_MIN_POOL_SIZE (EINVAL),
     * std::bad_alloc if no memory.  The object owns the pool.
     */
    explicit pool(std::size_t block_size = 0) : p_(np_create(block_size))
    {
        if (p_ == nullptr)
            detail::throw_create_error(errno);
    }

    /*
     * A pool from a configuration (block size, small limit, NP_SHARED, a
     * backend): np_create_ex.  Any thread.  Throws std::invalid_argument for a
     * bad configuration (EINVAL), std::bad_alloc if no memory.  The object owns
     * the pool; config->backend must outlive it.
     */
    explicit pool(const np_config_t &config) : p_(np_create_ex(&config))
    {
        if (p_ == nullptr)
            detail::throw_create_error(errno);
    }

    /*
     * A shared pool (NP_SHARED, np_create_shared): any thread may allocate
     * from it at once; reset and destruction still need every other thread
     * out.  Throws like pool(block_size).  The returned object owns the pool.
     */
    static pool shared(std::size_t block_size = 0)
    {
        np_pool_t *p = np_create_shared(block_size);
        if (p == nullptr)
            detail::throw_create_error(errno);
        return pool(p, adopt_tag{});
    }

    /* Takes other's pool; other becomes empty.  Never fails.  Like any use of
     * the pool: its thread (any thread for a shared pool). */
    pool(pool &&other) noexcept : p_(std::exchange(other.p_, nullptr)) {}

    /* Takes other's pool (other becomes empty), then destroys the pool this
     * object held, as the destructor does (same thread rules, same misuse
     * check): a cleanup of the old pool that uses this object finds the new
     * pool.  Never throws. */
    pool &operator=(pool &&other) noexcept
    {
        if (this != &other)
            destroy(std::exchange(p_, std::exchange(other.p_, nullptr)));
        return *this;
    }

    pool(const pool &) = delete;
    pool &operator=(const pool &) = delete;

    /*
     * np_destroy: cleanups (np::make's destructors) run newest first, then the
     * memory goes.  No other thread may use the pool.  Two destroys are
     * misuses that np_destroy refuses, and the pool then leaks: a shared pool
     * inside np_rcu_read_lock() (EDEADLK), and the pool's own destroy or
     * reset from one of its cleanups (EBUSY; say, a destructor that assigns
     * a new pool to the np::pool that owns this one).  Unless NDEBUG is
     * defined, either aborts with a message.
     */
    ~pool() { destroy(p_); }

    /* The C pool, for npool.h's functions; still owned by this object.  Any
     * thread; nullptr for an empty (moved-from or released) pool. */
    np_pool_t *get() const noexcept { return p_; }

    /* Give up ownership: returns the C pool (the caller now destroys it with
     * np_destroy) and leaves this object empty.  Never fails. */
    [[nodiscard]] np_pool_t *release() noexcept { return std::exchange(p_, nullptr); }

    /*
     * np_reset: run the cleanups (np::make's destructors, newest first),
     * release large allocations, rewind the blocks; every pointer the pool
     * handed out becomes invalid.  The pool's thread (shared: no other user
     * during the call).  Never fails; an empty pool is a no-op.
     */
    void reset() noexcept { np_reset(p_); }

    /*
     * size bytes aligned to NP_ALIGNMENT (np_alloc, inline fast path).  The
     * pool's thread (any thread if shared).  Throws std::bad_alloc if no memory
     * or the pool is empty.  The memory belongs to the pool until reset/destroy.
     */
    [[nodiscard]] void *alloc(std::size_t size)
    {
        void *m = np_alloc(p_, size);
        if (m == nullptr)
            throw std::bad_alloc();
        return m;
    }

    /*
     * size bytes aligned to align, a power of two: np_alloc up to NP_ALIGNMENT,
     * else np_memalign (a large allocation).  Same threads as alloc(size).
     * Throws std::invalid_argument for a bad align, std::bad_alloc if no
     * memory.  The memory belongs to the pool (np_free may release a large one).
     */
    [[nodiscard]] void *alloc(std::size_t size, std::size_t align)
    {
        if (align == 0 || (align & (align - 1)) != 0)
            throw std::invalid_argument("np::pool::alloc: alignment is not a power of two");
        return detail::alloc_object(p_, size, align);
    }

    /*
     * A NUL-terminated copy of s in the pool: s.size() bytes (embedded NULs
     * included), then a NUL; "" gives a valid empty string.  Same threads as
     * alloc.  Throws std::bad_alloc.  The copy belongs to the pool.
     */
    [[nodiscard]] char *strdup(std::string_view s)
    {
        std::size_t n = s.size();
        if (n == std::numeric_limits<std::size_t>::max())
            throw std::bad_alloc();
        char *d = static_cast<char *>(np_nalloc(p_, n + 1));
        if (d == nullptr)
            throw std::bad_alloc();
        if (n != 0)
            std::memcpy(d, s.data(), n);
        d[n] = '\0';
        return d;
    }

private:
    struct adopt_tag {};
    pool(np_pool_t *p, adopt_tag) noexcept : p_(p) {}

    static void destroy(np_pool_t *p) noexcept
    {
        if (p == nullptr)
            return;
#ifndef NDEBUG
        int saved = errno;
        errno = 0;
        np_destroy(p);
        if (errno == EDEADLK) {
            std::fputs("npool: np::pool destroyed inside np_rcu_read_lock() "
                       "(np_destroy refused: EDEADLK)\n", stderr);
            std::abort();
        }
        if (errno == EBUSY) {
            std::fputs("npool: np::pool destroyed from one of its own cleanups "
                       "(np_destroy refused: EBUSY)\n", stderr);
            std::abort();
        }
        errno = saved;
#else
        np_destroy(p);
#endif
    }

    np_pool_t *p_;
};

/*
 * A T built in pool p from args (T(args...), or T{args...} for an aggregate):
 * np_alloc, or np_memalign if alignof(T) > NP_ALIGNMENT.  Unless T is
 * trivially destructible, its destructor is registered with np_cleanup_push
 * and runs at np_reset/np_destroy (newest first, once).  The pool's thread
 * (any if shared).  Throws std::bad_alloc (if the push fails the object is
 * destroyed first) or what T's constructor throws (nothing is registered).
 * The object belongs to the pool: never delete it.  Made while np_reset
 * runs the pool's cleanups (np_resetting: from a destructor the reset
 * runs), it is built in storage from operator new instead, since the
 * pool's memory goes when that reset ends; its cleanup, pushed whatever T,
 * destroys it and frees the storage at the next reset or destroy.
 */
template <class T, class... Args> T *make(np_pool_t *p, Args &&...args)
{
    static_assert(!std::is_array_v<T> && !std::is_reference_v<T>, "np::make: T must be an object type");
    using U = std::remove_cv_t<T>;
    if (np_resetting(p) == 1) {         /* the pool's memory goes when this reset ends */
        void *m = ::operator new(sizeof(U), std::align_val_t(alignof(U)));
        U *obj;
        try {
            obj = detail::construct_at<U>(m, std::forward<Args>(args)...);
        } catch (...) {
            ::operator delete(m, std::align_val_t(alignof(U)));
            throw;
        }
        if (np_cleanup_push(p, &detail::destroy_heap_one<U>, obj) == nullptr) {
            detail::destroy_heap_one<U>(obj);
            throw std::bad_alloc();
        }
        return obj;
    }
    void *m = detail::alloc_object(p, sizeof(U), alignof(U));
    U *obj;
    try {
        obj = detail::construct_at<U>(m, std::forward<Args>(args)...);
    } catch (...) {
        detail::free_object(p, m, sizeof(U), alignof(U));
        throw;
    }
    if constexpr (!std::is_trivially_destructible_v<U>) {
        if (np_cleanup_push(p, &detail::destroy_one<U>, obj) == nullptr) {
            obj->~U();
            detail::free_object(p, m, sizeof(U), alignof(U));
            throw std::bad_alloc();
        }
    }
    return obj;
}

/* np::make in an np::pool: the same, on p.get(). */
template <class T, class... Args> T *make(pool &p, Args &&...args)
{
    return make<T>(p.get(), std::forward<Args>(args)...);
}

/*
 * n value-initialised Ts in pool p (np_alloc, np_memalign if alignof(T) >
 * NP_ALIGNMENT).  Unless T is trivially destructible, one cleanup record
 * destroys them at np_reset/np_destroy, last element first.  The pool's
 * thread (any if shared).  Throws std::bad_alloc (n * sizeof(T) overflows, no memory) or
 * what element k's constructor throws, after destroying elements k-1..0
 * (nothing registered).  The array belongs to the pool; n == 0 gives a
 * valid pointer to no element.  Made while np_reset runs the pool's
 * cleanups, it lives in storage from operator new until its cleanup at the
 * next reset or destroy, as np::make's object does.
 */
template <class T> T *make_array(np_pool_t *p, std::size_t n)
{
    static_assert(!std::is_array_v<T> && !std::is_reference_v<T>, "np::make_array: T must be an object type");
    using U = std::remove_cv_t<T>;
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(U))
        throw std::bad_alloc();
    const std::size_t size = n * sizeof(U);
    if (np_resetting(p) == 1) {         /* the pool's memory goes when this reset ends */
        constexpr std::size_t at = detail::heap_elements_at<U>();
        if (size > std::numeric_limits<std::size_t>::max() - at)
            throw std::bad_alloc();
        void *block = ::operator new(at + size, std::align_val_t(detail::heap_align<U>()));
        auto *rec = static_cast<detail::array_record<U> *>(block);
        U *first = reinterpret_cast<U *>(static_cast<unsigned char *>(block) + at);
        try {
            detail::construct_n(first, n);
        } catch (...) {
            ::operator delete(block, std::align_val_t(detail::heap_align<U>()));
            throw;
        }
        rec->first = first;
        rec->count = n;
        if (np_cleanup_push(p, &detail::destroy_heap_array<U>, rec) == nullptr) {
            detail::destroy_heap_array<U>(rec);
            throw std::bad_alloc();
        }
        return first;
    }
    detail::array_record<U> *rec = nullptr;
    if constexpr (!std::is_trivially_destructible_v<U>) {
        if (n != 0)
            rec = static_cast<detail::array_record<U> *>(
                detail::alloc_object(p, sizeof(detail::array_record<U>), alignof(detail::array_record<U>)));
    }
    void *m = detail::alloc_object(p, size, alignof(U));
    U *first = static_cast<U *>(m);
    try {
        detail::construct_n(first, n);
    } catch (...) {
        detail::free_object(p, m, size, alignof(U));
        throw;
    }
    if constexpr (!std::is_trivially_destructible_v<U>) {
        if (n != 0) {
            rec->first = first;
            rec->count = n;
            if (np_cleanup_push(p, &detail::destroy_array<U>, rec) == nullptr) {
                detail::destroy_reverse(first, n);
                detail::free_object(p, m, size, alignof(U));
                throw std::bad_alloc();
            }
        }
    }
    return first;
}

/* np::make_array in an np::pool: the same, on p.get(). */
template <class T> T *make_array(pool &p, std::size_t n)
{
    return make_array<T>(p.get(), n);
}

/*
 * A std::pmr::memory_resource over a pool it does not own (the pool must
 * outlive the resource and everything allocated through it).  Allocation
 * follows the small/large rule (top of this file); deallocation is O(1).
 * The pool's threads: a shared pool's resource may be used by any thread.
 */
class resource : public std::pmr::memory_resource {
public:
    /* A resource over p (not owned; nullptr: every allocation throws
     * std::bad_alloc).  Any thread; never fails. */
    explicit resource(np_pool_t *p) noexcept : p_(p), max_(p ? np_max_small(p) : 0) {}

    /* A resource over p.get() (p keeps owning it).  Any thread; never fails. */
    explicit resource(pool &p) noexcept : resource(p.get()) {}

    resource(const resource &) = default;
    resource &operator=(const resource &) = default;

    /* Ends the resource, not its pool.  It forgets the pool (through a
     * volatile store, which no optimiser drops), so that a use after its end
     * throws std::bad_alloc from allocate instead of reaching a pool it no
     * longer speaks for. */
    ~resource() override
    {
        np_pool_t *volatile *pool_slot = &p_;
        *pool_slot = nullptr;
        std::size_t volatile *max_slot = &max_;
        *max_slot = 0;
    }

    /* The pool; not owned.  Any thread. */
    np_pool_t *get() const noexcept { return p_; }

protected:
    /* Small (bytes <= np_max_small, alignment <= NP_ALIGNMENT): np_alloc; else
     * np_memalign(max(alignment, NP_ALIGNMENT)).  The pool's thread (any if
     * shared).  Throws std::bad_alloc.  The memory belongs to the pool: it
     * goes at np_reset/np_destroy at the latest. */
    void *do_allocate(std::size_t bytes, std::size_t alignment) override
    {
        return detail::alloc_rule(p_, max_, bytes, alignment);
    }

    /* O(1) for small requests (nothing to do: the memory goes at reset); a
     * large one is released at once with np_free.  Same threads as
     * do_allocate.  Never throws. */
    void do_deallocate(void *ptr, std::size_t bytes, std::size_t alignment) override
    {
        detail::free_rule(p_, max_, ptr, bytes, alignment);
    }

    /* Equal to a resource of the same class (the same dynamic type) over the
     * same pool.  Any thread; never fails. */
    bool do_is_equal(const std::pmr::memory_resource &other) const noexcept override
    {
        return typeid(other) == typeid(*this) && static_cast<const resource &>(other).p_ == p_;
    }

private:
    np_pool_t *p_;
    std::size_t max_;           /* np_max_small(p_), fixed for the pool's life */
};

/*
 * The calling thread's resource, over np_thread_pool(): created on the
 * thread's first call, valid until the thread exits, its thread pool's
 * cleanups at thread exit included (np::make's destructors there may
 * deallocate through it); only this thread may use it.  What it hands out
 * ends at np_thread_reset() (and at thread exit).  Throws std::bad_alloc if
 * the thread pool cannot be created (a later call tries again).  The thread
 * owns the resource and its pool.
 */
inline resource &thread_resource()
{
    /* Built in storage that no destructor ends: the thread pool is destroyed
       after the thread's C++ thread_local objects (from a pthread key
       destructor, and at exit after them), and its cleanups may still use
       the resource, which owns nothing.  The names are new: an earlier
       header's thread_local here was `r`, a resource, and one name with two
       types in one process (libraries built against both headers) aliases. */
    alignas(resource) thread_local unsigned char thread_resource_storage[sizeof(resource)];
    thread_local resource *thread_resource_built = nullptr;
    if (thread_resource_built == nullptr)
        thread_resource_built =
            ::new (static_cast<void *>(thread_resource_storage)) resource(detail::thread_pool());
    return *thread_resource_built;
}

/*
 * A standard allocator (std::allocator_traits) over a pool it does not own,
 * with the small/large rule of np::resource.  Copies and rebinds share the
 * pool; equality compares pools.  Containers keep the target's pool on copy
 * assignment, take the source's on move assignment and swap, and a copy of a
 * container uses the same pool.  The pool must outlive the container.
 */
template <class T> class allocator {
public:
    using value_type = T;
    using size_type = std::size_t;
    using difference_type = std::ptrdiff_t;
    using propagate_on_container_copy_assignment = std::false_type;
    using propagate_on_container_move_assignment = std::true_type;
    using propagate_on_container_swap = std::true_type;
    using is_always_equal = std::false_type;

    /* An allocator over p (not owned).  Any thread; never fails. */
    allocator(np_pool_t *p) noexcept : p_(p) {}

    /* An allocator over p.get() (p keeps owning it).  Any thread; never fails. */
    allocator(pool &p) noexcept : p_(p.get()) {}

    /* The same pool, for another value type.  Any thread; never fails. */
    template <class U> allocator(const allocator<U> &other) noexcept : p_(other.get()) {}

    /* The pool; not owned.  Any thread. */
    np_pool_t *get() const noexcept { return p_; }

    /* n Ts, by the small/large rule.  The pool's threads.  Throws
     * std::bad_array_new_length (a std::bad_alloc) if n * sizeof(T) overflows,
     * std::bad_alloc if no memory.  The memory belongs to the pool. */
    [[nodiscard]] T *allocate(std::size_t n)
    {
        if (n > std::numeric_limits<std::size_t>::max() / sizeof(T))
            throw std::bad_array_new_length();
        return static_cast<T *>(detail::alloc_rule(p_, n * sizeof(T), alignof(T)));
    }

    /* O(1) for small blocks (nothing: they go at reset); np_free for large
     * ones.  The pool's threads.  Never throws. */
    void deallocate(T *ptr, std::size_t n) noexcept
    {
        detail::free_rule(p_, ptr, n * sizeof(T), alignof(T));
    }

    /* A copy of a container allocates from the same pool (this allocator).
     * Never fails. */
    allocator select_on_container_copy_construction() const noexcept { return *this; }

private:
    np_pool_t *p_;
};

/* Allocators are equal when they use the same pool (what one allocates, the
 * other may deallocate).  Any thread; never fail. */
template <class T, class U>
bool operator==(const allocator<T> &a, const allocator<U> &b) noexcept
{
    return a.get() == b.get();
}

template <class T, class U>
bool operator!=(const allocator<T> &a, const allocator<U> &b) noexcept
{
    return a.get() != b.get();
}

} // namespace np

#endif /* NPOOL_HPP */
