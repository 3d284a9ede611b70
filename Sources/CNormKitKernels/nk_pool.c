// A small thread pool for the kernels: workers spin for a moment after each job before they
// sleep, so that back-to-back kernel calls hand work over in about a microsecond instead of the
// 10–20 µs of waking a parked thread (Dispatch's pool parks at once).
//
// One job runs at a time. A caller that finds the pool busy (another thread's job, or a nested
// call from inside a job) runs its chunks itself: concurrent callers never wait on each other
// and never add threads. Workers are created on first use, up to the largest count asked for,
// and live until the process ends.
#include "CNormKitKernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define NK_POOL_MAX_WORKERS 255
/// How long an idle worker polls for the next job before it sleeps.
#define NK_POOL_SPIN_NANOSECONDS 200000L

static pthread_mutex_t nk_pool_lock = PTHREAD_MUTEX_INITIALIZER;  // guards the sleep and the worker count
static pthread_cond_t nk_pool_wake = PTHREAD_COND_INITIALIZER;
static atomic_flag nk_pool_busy = ATOMIC_FLAG_INIT;                // held by the caller of the running job
static long nk_pool_workers = 0;
static atomic_long nk_pool_sleepers = 0;

// The running job, written by its caller before it publishes a new generation.
static atomic_long nk_job_generation = 0;
static nk_task nk_job_task;
static void *nk_job_context;
static long nk_job_chunks;
static atomic_long nk_job_helper_limit;  // read by workers before they join
static atomic_long nk_job_next_chunk;
static atomic_long nk_job_done_chunks;
// Who may touch the job: its generation, a closed bit, and the workers inside it. A worker joins
// only by incrementing the count of the generation it saw, while the job is open; the caller
// closes the job and waits for the count to drop to zero before it returns, so no worker reads
// a job's fields once its caller has moved on.
static atomic_long nk_job_ticket = 0;
#define NK_TICKET_GENERATION (1L << 20)
#define NK_TICKET_CLOSED (1L << 19)
#define NK_TICKET_COUNT (NK_TICKET_CLOSED - 1)

static long nk_now_nanoseconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1000000000L + now.tv_nsec;
}

static inline void nk_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

void nk_store_fence(void) {
#if defined(__x86_64__)
    __builtin_ia32_sfence();
#endif
}

/// Takes chunks of the current job until none is left: each fenced before it counts as done.
static void nk_run_chunks(void) {
    for (;;) {
        const long chunk = atomic_fetch_add_explicit(&nk_job_next_chunk, 1, memory_order_relaxed);
        if (chunk >= nk_job_chunks) return;
        nk_job_task(nk_job_context, chunk);
        nk_store_fence();
        atomic_fetch_add_explicit(&nk_job_done_chunks, 1, memory_order_release);
    }
}

/// `argument` is the generation current when the worker was made, before the job that made it
/// was published: the worker takes part in that job too.
static void *nk_worker(void *argument) {
    long seen = (long)(intptr_t)argument;
    for (;;) {
        // Spin, then sleep, until a new job is published.
        const long start = nk_now_nanoseconds();
        long polls = 0;
        while (atomic_load_explicit(&nk_job_generation, memory_order_acquire) == seen) {
            nk_pause();
            if (++polls % 256 != 0) continue;
            if (nk_now_nanoseconds() - start < NK_POOL_SPIN_NANOSECONDS) {
                if (polls % 4096 == 0) sched_yield();
                continue;
            }
            pthread_mutex_lock(&nk_pool_lock);
            atomic_fetch_add(&nk_pool_sleepers, 1);
            while (atomic_load(&nk_job_generation) == seen) pthread_cond_wait(&nk_pool_wake, &nk_pool_lock);
            atomic_fetch_sub(&nk_pool_sleepers, 1);
            pthread_mutex_unlock(&nk_pool_lock);
        }
        seen = atomic_load_explicit(&nk_job_generation, memory_order_acquire);
        long ticket = atomic_load_explicit(&nk_job_ticket, memory_order_acquire);
        while (ticket / NK_TICKET_GENERATION == seen && !(ticket & NK_TICKET_CLOSED) &&
               (ticket & NK_TICKET_COUNT) < atomic_load_explicit(&nk_job_helper_limit, memory_order_relaxed)) {
            if (atomic_compare_exchange_weak_explicit(&nk_job_ticket, &ticket, ticket + 1, memory_order_acq_rel,
                                                      memory_order_acquire)) {
                nk_run_chunks();
                atomic_fetch_sub_explicit(&nk_job_ticket, 1, memory_order_release);
                break;
            }
        }
    }
    return 0;
}

/// Starts workers until there are `count` (or thread creation fails); returns how many exist.
static long nk_ensure_workers(long count) {
    if (count > NK_POOL_MAX_WORKERS) count = NK_POOL_MAX_WORKERS;
    pthread_mutex_lock(&nk_pool_lock);
    while (nk_pool_workers < count) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        const long generation = atomic_load(&nk_job_generation);
        const int failed = pthread_create(&thread, &attributes, nk_worker, (void *)(intptr_t)generation);
        pthread_attr_destroy(&attributes);
        if (failed) break;
        nk_pool_workers += 1;
    }
    const long workers = nk_pool_workers;
    pthread_mutex_unlock(&nk_pool_lock);
    return workers;
}

int nk_parallel_for(long chunks, long threads, nk_task task, void *context) {
    if (chunks <= 0) return 0;
    if (chunks == 1 || threads <= 1 || atomic_flag_test_and_set_explicit(&nk_pool_busy, memory_order_acquire)) {
        for (long chunk = 0; chunk < chunks; chunk++) task(context, chunk);
        nk_store_fence();
        return 0;
    }
    const long helpers = nk_ensure_workers(threads - 1);
    const long generation = atomic_load_explicit(&nk_job_generation, memory_order_relaxed) + 1;
    nk_job_task = task;
    nk_job_context = context;
    nk_job_chunks = chunks;
    atomic_store_explicit(&nk_job_helper_limit, helpers < chunks - 1 ? helpers : chunks - 1, memory_order_relaxed);
    atomic_store_explicit(&nk_job_next_chunk, 0, memory_order_relaxed);
    atomic_store_explicit(&nk_job_done_chunks, 0, memory_order_relaxed);
    atomic_store_explicit(&nk_job_ticket, generation * NK_TICKET_GENERATION, memory_order_release);
    // Sequentially consistent, as is the sleepers count: either this caller sees a sleeper and
    // wakes it, or the sleeper sees the new generation before it waits.
    atomic_store(&nk_job_generation, generation);
    if (atomic_load(&nk_pool_sleepers) > 0) {
        pthread_mutex_lock(&nk_pool_lock);
        pthread_cond_broadcast(&nk_pool_wake);
        pthread_mutex_unlock(&nk_pool_lock);
    }
    nk_run_chunks();
    while (atomic_load_explicit(&nk_job_done_chunks, memory_order_acquire) < chunks) nk_pause();
    // Close the job, then wait for the workers inside it to leave.
    atomic_fetch_or_explicit(&nk_job_ticket, NK_TICKET_CLOSED, memory_order_acq_rel);
    while (atomic_load_explicit(&nk_job_ticket, memory_order_acquire) & NK_TICKET_COUNT) nk_pause();
    atomic_flag_clear_explicit(&nk_pool_busy, memory_order_release);
    return 1;
}
