/*
 * vmp-load: synthetic memory-dirtying load for the virt-migrate-predict test guest.
 *
 * Allocates a working set (WSS), touches every page once so that it is
 * resident and non-zero, prints "vmp-load: ready ..." and then writes
 * RATE pages per second (4 KiB pages) forever, following PATTERN.
 * Every write stores an incrementing 64-bit counter at a varying offset of
 * the page, so the page content (and thus its hash) changes on every write.
 *
 * Parameters come from /proc/cmdline (vmp.wss_mib=, vmp.rate=, vmp.pattern=,
 * vmp.seed=, vmp.stats=, vmp.threads=) and can be overridden by command-line arguments of
 * the same form without the "vmp." prefix (e.g. ./load wss_mib=8 rate=100),
 * which is handy for running it on the host.
 *
 * Build: gcc -static -O2 -pthread -o load load.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL

enum pattern { P_RANDOM, P_SEQUENTIAL, P_HOTCOLD, P_BURSTY, P_GROWING, P_PHASED };
static const char *const pattern_names[] = {"random", "sequential", "hotcold", "bursty", "growing",
                                            "phased"};

struct params {
    uint64_t wss_mib;
    uint64_t rate;      /* page writes per second; 0 = idle */
    enum pattern pattern;
    uint64_t seed;
    uint64_t stats;     /* seconds between stats lines; 0 = off */
    uint64_t threads;   /* writer threads, each RATE/THREADS: one per vCPU */
};

static __thread uint64_t rng_state; /* each writer thread its own */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* xorshift64* */
static inline uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/* uniform in [0, n) */
static inline uint64_t rnd_below(uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rnd() * n) >> 64);
}

static int parse_kv(struct params *p, const char *key, const char *val)
{
    if (!strcmp(key, "wss_mib")) p->wss_mib = strtoull(val, NULL, 0);
    else if (!strcmp(key, "rate")) p->rate = strtoull(val, NULL, 0);
    else if (!strcmp(key, "seed")) p->seed = strtoull(val, NULL, 0);
    else if (!strcmp(key, "stats")) p->stats = strtoull(val, NULL, 0);
    else if (!strcmp(key, "threads")) p->threads = strtoull(val, NULL, 0);
    else if (!strcmp(key, "pattern")) {
        for (unsigned i = 0; i < sizeof pattern_names / sizeof *pattern_names; i++)
            if (!strcmp(val, pattern_names[i])) { p->pattern = (enum pattern)i; return 0; }
        fprintf(stderr, "vmp-load: unknown pattern '%s', using random\n", val);
        p->pattern = P_RANDOM;
    } else return -1;
    return 0;
}

/* "key=val" with optional prefix */
static void parse_token(struct params *p, char *tok, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (strncmp(tok, prefix, pl)) return;
    tok += pl;
    char *eq = strchr(tok, '=');
    if (!eq) return;
    *eq = '\0';
    parse_kv(p, tok, eq + 1);
    *eq = '=';
}

static void parse_cmdline(struct params *p)
{
    FILE *f = fopen("/proc/cmdline", "r");
    if (!f) return;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (char *save = NULL, *tok = strtok_r(buf, " \t\n", &save); tok;
         tok = strtok_r(NULL, " \t\n", &save))
        parse_token(p, tok, "vmp.");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Cumulative number of writes that should have happened by time t. */
static double target_writes(const struct params *p, double t)
{
    double r = (double)p->rate;
    if (p->pattern == P_BURSTY) {
        /* 2*rate during [2k, 2k+1), 0 during [2k+1, 2k+2) */
        double k = (double)(uint64_t)(t / 2.0);
        double in = t - 2.0 * k;
        return 2.0 * r * (k + (in < 1.0 ? in : 1.0));
    }
    if (p->pattern == P_PHASED) {
        /* 1.75*rate during [8k, 8k+4), 0.25*rate during [8k+4, 8k+8): the same mean */
        double k = (double)(uint64_t)(t / 8.0);
        double in = t - 8.0 * k;
        return r * (8.0 * k + 1.75 * (in < 4.0 ? in : 4.0) + 0.25 * (in > 4.0 ? in - 4.0 : 0.0));
    }
    return r * t;
}

/* One writer: RATE/THREADS page writes per second over the whole working set, its own
 * random sequence (thread 0 the one a single writer had). */
struct writer {
    const struct params *p;
    unsigned char *wss;
    uint64_t npages;
    unsigned index;
};

static void *write_pages(void *arg)
{
    const struct writer *w = arg;
    const struct params *pp = w->p;
    unsigned char *const wss = w->wss;
    const uint64_t npages = w->npages;
    const double share = 1.0 / (double)pp->threads;
    uint64_t sm = pp->seed + 0x1000003ULL * w->index;
    rng_state = splitmix64(&sm);
    if (rng_state == 0) rng_state = 0x9E3779B97F4A7C15ULL;

    const uint64_t hot = npages / 10 ? npages / 10 : 1;
    /* never catch up more than 100 ms of writes */
    const double max_backlog = pp->rate * share * 0.1 + 1;
    uint64_t counter = 0, done = 0, missed = 0;
    /* sequential writers start spread over the set */
    uint64_t seq = npages * w->index / pp->threads;
    uint64_t last_stats_done = 0;
    char thread_tag[24] = ""; /* several writers: each line names its own */
    if (pp->threads > 1) snprintf(thread_tag, sizeof thread_tag, " thread=%u", w->index);
    double start = now_s(), next_stats = pp->stats ? (double)pp->stats : 1e300, last_stats_t = 0;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);

    for (;;) {
        double t = now_s() - start;
        double tgt = target_writes(pp, t) * share - (double)missed;
        if (tgt - (double)done > max_backlog) { /* stalled (paused VM, starved vCPU): drop */
            uint64_t drop = (uint64_t)(tgt - (double)done - max_backlog);
            missed += drop;
            tgt -= (double)drop;
        }
        uint64_t bound = npages;
        if (pp->pattern == P_GROWING) {
            double f = 0.1 + 0.9 * (t >= 60.0 ? 1.0 : t / 60.0);
            bound = (uint64_t)(f * (double)npages);
            if (bound == 0) bound = 1;
            if (bound > npages) bound = npages;
        }
        while ((double)done < tgt) {
            uint64_t pg;
            switch (pp->pattern) {
            case P_SEQUENTIAL:
                if (seq >= bound) seq = 0;
                pg = seq++;
                break;
            case P_HOTCOLD:
                if (npages <= hot || rnd_below(10) < 9) pg = rnd_below(hot);
                else pg = hot + rnd_below(npages - hot);
                break;
            default: /* random, bursty, growing, phased */
                pg = rnd_below(bound);
                break;
            }
            counter++;
            size_t off = (size_t)((counter * 8 * 67) & (PAGE - 8));
            *(volatile uint64_t *)(wss + pg * PAGE + off) =
                (counter ^ 0xA5A5000000000000ULL) + ((uint64_t)w->index << 48);
            done++;
        }
        if (t >= next_stats) {
            double dt = t - last_stats_t;
            printf("vmp-load: stats t=%.1f writes=%" PRIu64 " missed=%" PRIu64
                   " rate_last=%.0f/s%s\n",
                   t, done, missed, (double)(done - last_stats_done) / dt, thread_tag);
            last_stats_done = done;
            last_stats_t = t;
            next_stats += (double)pp->stats;
        }
        /* sleep until the next 1 ms tick (absolute, so no drift) */
        next.tv_nsec += 1000000;
        if (next.tv_nsec >= 1000000000) { next.tv_nsec -= 1000000000; next.tv_sec++; }
        struct timespec cur;
        clock_gettime(CLOCK_MONOTONIC, &cur);
        if (cur.tv_sec > next.tv_sec || (cur.tv_sec == next.tv_sec && cur.tv_nsec > next.tv_nsec))
            next = cur; /* fell behind: don't spin trying to replay ticks */
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct params p = {.wss_mib = 64, .rate = 1000, .pattern = P_RANDOM, .seed = 1, .stats = 10,
                       .threads = 1};
    parse_cmdline(&p);
    for (int i = 1; i < argc; i++)
        parse_token(&p, argv[i], "");
    if (p.threads < 1) p.threads = 1;
    if (p.threads > 64) p.threads = 64;
    setvbuf(stdout, NULL, _IOLBF, 0);

    uint64_t npages = p.wss_mib * (1024 * 1024 / PAGE);
    if (npages == 0) npages = 1;
    size_t len = npages * PAGE;
    unsigned char *wss = mmap(NULL, len, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (wss == MAP_FAILED) {
        fprintf(stderr, "vmp-load: mmap %zu bytes: %s\n", len, strerror(errno));
        return 1;
    }
    (void)mlockall(MCL_CURRENT | MCL_FUTURE); /* optional; ignore failure */

    /* Touch the whole WSS: every 64-bit word non-zero. */
    double t0 = now_s();
    for (uint64_t pg = 0; pg < npages; pg++) {
        volatile uint64_t *w = (volatile uint64_t *)(wss + pg * PAGE);
        uint64_t v = 0x5A5A5A5A00000000ULL | (pg + 1);
        for (size_t i = 0; i < PAGE / 8; i++) w[i] = v;
    }
    double touch_s = now_s() - t0;

    printf("vmp-load: ready wss_mib=%" PRIu64 " rate=%" PRIu64 " pattern=%s seed=%" PRIu64
           " pages=%" PRIu64 " touch_ms=%.0f",
           p.wss_mib, p.rate, pattern_names[p.pattern], p.seed, npages, touch_s * 1e3);
    if (p.threads > 1) printf(" threads=%" PRIu64, p.threads);
    printf("\n");

    if (p.rate == 0) {
        for (;;) pause();
    }

    static struct writer writers[64];
    for (unsigned i = 0; i < p.threads; i++)
        writers[i] = (struct writer){&p, wss, npages, i};
    for (unsigned i = 1; i < p.threads; i++) {
        pthread_t t;
        int e = pthread_create(&t, NULL, write_pages, &writers[i]);
        if (e) {
            fprintf(stderr, "vmp-load: pthread_create: %s\n", strerror(e));
            return 1;
        }
    }
    write_pages(&writers[0]);
    return 0;
}
