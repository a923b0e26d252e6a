/* A paced update source for the monitor benchmark, run inside a softIoc process.
 *
 * A Python updater tops out near 10k updates/s, so the posting loop is C: one epicsThread
 * that calls dbPutField(DBR_DOUBLE) on a record, writing 1, 2, 3, ... so the value itself is
 * the number of posts so far (a client that saw first value A and last value B knows exactly
 * B - A updates were posted in between, whatever it received).
 *
 * Rate: > 0 updates/s, paced on an absolute CLOCK_MONOTONIC schedule (clock_nanosleep with a
 * 1 ns timer slack, then a short spin, so posts stay evenly spaced instead of bursting: rsrv
 * keeps only a few queued events per subscription and would merge a burst);
 * optionally several per wake-up (poster_set_batch); 0 = as fast as possible; < 0 = paused. The rate is either set from C callers
 * (poster_set_rate) or, after poster_rate_from(), read from a record's VAL on every loop,
 * so a CA client can change it with a plain put.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>

#include <dbAccess.h>
#include <epicsThread.h>

#define NS_PER_S 1000000000LL
/* Wake this much before a post is due and spin the rest (poster_set_spin_ns): trades CPU
 * for evenly spaced posts when the scheduler's wake-up jitter is large. */
static volatile int64_t spin_ns = 0;
/* Posts per wake-up (poster_set_batch): each sleep costs ~15 us of CPU on a VM, so at 50k/s
 * single posts keep a core busy; small batches stay below rsrv's per-subscription queue of
 * 4 events (a larger burst before the event task runs would be merged). */
static volatile int batch = 1;
/* Further behind than this and the schedule restarts instead of posting a burst. */
#define MAX_LAG_NS 2000000LL

static DBADDR value_addr;
static DBADDR rate_addr;
static volatile const double *rate_field;  /* NULL: use own_rate */
static volatile double own_rate = -1.0;
static volatile int running;
static volatile uint64_t posted;
static volatile uint64_t schedule_resets;
static volatile uint64_t put_failures;
static volatile long last_put_status;
static epicsThreadId thread_id;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void sleep_until_ns(int64_t when)
{
    struct timespec ts;
    ts.tv_sec = when / NS_PER_S;
    ts.tv_nsec = when % NS_PER_S;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

/* Scheduling of the poster thread. When the IOC may use real-time scheduling (root),
 * EPICS makes its threads SCHED_FIFO; the poster is created at epicsThreadPriorityHigh,
 * above rsrv's threads. Paced, it keeps that: it posts its batch before rsrv's event task
 * runs (one wake-up and one send per batch rather than per update) and other load on the
 * machine cannot make it miss its schedule; its CPU is bounded by the pacing. As fast as
 * possible, it becomes an ordinary SCHED_OTHER thread: a FIFO busy loop would starve rsrv
 * and every ordinary process on its CPU. */
static void set_policy(int paced, const struct sched_param *created)
{
    struct sched_param normal;
    memset(&normal, 0, sizeof normal);
    if (paced && created->sched_priority > 0)
        pthread_setschedparam(pthread_self(), SCHED_FIFO, created);
    else
        pthread_setschedparam(pthread_self(), SCHED_OTHER, &normal);
}

static double current_rate(void)
{
    return rate_field ? *rate_field : own_rate;
}

static void poster_loop(void *unused)
{
    double active_rate = -2.0;
    int64_t period_ns = 0;
    int64_t due = 0;
    struct sched_param created;
    int created_policy;
    (void)unused;
    if (pthread_getschedparam(pthread_self(), &created_policy, &created) != 0
            || created_policy != SCHED_FIFO)
        created.sched_priority = 0;
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    while (running) {
        double rate = current_rate();
        if (rate != active_rate) {
            active_rate = rate;
            period_ns = rate > 0 ? (int64_t)(NS_PER_S * batch / rate) : 0;
            set_policy(rate > 0, &created);
            due = now_ns();
        }
        if (rate < 0) {
            sleep_until_ns(now_ns() + 1000000LL);
            continue;
        }
        if (period_ns > 0) {
            int64_t now = now_ns();
            if (now - due > MAX_LAG_NS) {
                due = now;
                schedule_resets++;
            }
            if (due - now > spin_ns)
                sleep_until_ns(due - spin_ns);
            while (now_ns() < due) {
            }
            due += period_ns;
        }
        for (int i = period_ns > 0 ? batch : 1; i > 0; i--) {
            double value = (double)(posted + 1);
            long status = dbPutField(&value_addr, DBR_DOUBLE, &value, 1);
            if (status == 0) {
                posted++;
            } else {
                put_failures++;
                last_put_status = status;
            }
        }
    }
}

/* Start posting to `pv` at `rate_hz` (0: as fast as possible, < 0: paused).
 * Returns 0, or -1 if the PV is unknown or a poster already runs. */
int start_poster(const char *pv, double rate_hz)
{
    if (running || dbNameToAddr(pv, &value_addr) != 0)
        return -1;
    own_rate = rate_hz;
    running = 1;
    thread_id = epicsThreadCreate("poster", epicsThreadPriorityHigh,
                                  epicsThreadGetStackSize(epicsThreadStackSmall),
                                  poster_loop, NULL);
    if (!thread_id) {
        running = 0;
        return -1;
    }
    return 0;
}

/* Take the rate from a DOUBLE record field (e.g. "P:rate") from now on. 0 or -1. */
int poster_rate_from(const char *rate_pv)
{
    if (dbNameToAddr(rate_pv, &rate_addr) != 0 || rate_addr.field_type != DBF_DOUBLE)
        return -1;
    rate_field = (volatile const double *)rate_addr.pfield;
    return 0;
}

void poster_set_rate(double rate_hz)
{
    rate_field = NULL;
    own_rate = rate_hz;
}

void poster_set_spin_ns(int64_t ns)
{
    spin_ns = ns > 0 ? ns : 0;
}

void poster_set_batch(int posts_per_wake)
{
    batch = posts_per_wake > 1 ? posts_per_wake : 1;
}

uint64_t poster_count(void)
{
    return posted;
}

uint64_t poster_schedule_resets(void)
{
    return schedule_resets;
}

uint64_t poster_put_failures(void)
{
    return put_failures;
}

long poster_last_put_status(void)
{
    return last_put_status;
}

void stop_poster(void)
{
    running = 0;
}
