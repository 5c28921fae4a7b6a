// Exec-latency timer for bench/exec_overhead.sh (compiled by the script with cc, not CMake).
//
//   exec_timer [-V] [-w WARMUP] -n N [-b BASE] PATH   fork+execve(PATH)+waitpid N times, after WARMUP untimed ones
//   exec_timer [-V] -l LIST [-B BASELIST]              each path in LIST (one per line) once, timed
//   exec_timer -c PATH                                 one exec; prints "ok" or why not; exit 0 only if it ran and exited 0
//   exec_timer -m SRC DIR N                            writes DIR/c00000..: copies of SRC, each with a unique trailer
//
// -b / -B interleave a baseline: every iteration also execs BASE (or BASELIST[i]), in alternating
// order, so both series see the same background load; the difference is what the watched path adds.
// -V uses vfork instead of fork. Each timed series prints one line (µs per exec: wall time of
// fork + execve + child exit + waitpid, CLOCK_MONOTONIC):
//   test n=.. p50=.. p90=.. p99=.. mean=.. min=.. max=.. failures=..
//   base n=.. ...                                   (with -b/-B)
//   pair n=.. p50=.. p90=.. p99=.. mean=..          (with -b/-B: test[i] - base[i], per iteration)
// Exit status 1 when any timed exec failed.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char* const kEnv[] = {NULL};
static int use_vfork = 0;

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

// 0 when the child ran and exited 0; 200+errno when execve failed; else its exit status, or -1.
static int run_once(const char* path) {
  char* argv[] = {(char*)path, NULL};
  const pid_t pid = use_vfork ? vfork() : fork();
  if (pid < 0) {
    perror("fork");
    exit(2);
  }
  if (pid == 0) {
    execve(path, argv, kEnv);
    _exit(200 + (errno < 55 ? errno : 55));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      perror("waitpid");
      exit(2);
    }
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static double timed_once(const char* path, size_t* failures) {
  const double start = now_us();
  const int rc = run_once(path);
  const double elapsed = now_us() - start;
  if (rc != 0) {
    if (*failures < 3) {
      fprintf(stderr, "exec_timer: %s: %s\n", path, rc >= 200 ? strerror(rc - 200) : "exit status not 0");
    }
    ++*failures;
  }
  return elapsed;
}

static int compare(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static double percentile(const double* sorted, size_t n, double p) {
  size_t rank = (size_t)(p * (double)n + 0.999999);  // nearest rank
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return sorted[rank - 1];
}

static void report(const char* label, double* samples, size_t n, size_t failures) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += samples[i];
  qsort(samples, n, sizeof *samples, compare);
  printf("%s n=%zu p50=%.1f p90=%.1f p99=%.1f mean=%.1f min=%.1f max=%.1f failures=%zu\n", label, n,
         percentile(samples, n, 0.50), percentile(samples, n, 0.90), percentile(samples, n, 0.99),
         sum / (double)n, samples[0], samples[n - 1], failures);
}

// paths[i] (and base[i] if base != NULL), once each, interleaved.
static int run_series(char** paths, char** base, size_t n) {
  double* test_us = calloc(n + 1, sizeof(double));
  double* base_us = calloc(n + 1, sizeof(double));
  double* pair_us = calloc(n + 1, sizeof(double));
  size_t test_failures = 0, base_failures = 0;
  for (size_t i = 0; i < n; ++i) {
    if (base != NULL && i % 2 == 0) base_us[i] = timed_once(base[i], &base_failures);
    test_us[i] = timed_once(paths[i], &test_failures);
    if (base != NULL && i % 2 == 1) base_us[i] = timed_once(base[i], &base_failures);
    pair_us[i] = test_us[i] - base_us[i];
  }
  report("test", test_us, n, test_failures);
  if (base != NULL) {
    report("base", base_us, n, base_failures);
    report("pair", pair_us, n, 0);
  }
  fflush(stdout);
  return test_failures + base_failures == 0 ? 0 : 1;
}

static char** read_list(const char* list, size_t* count) {
  FILE* file = fopen(list, "r");
  if (file == NULL) {
    perror(list);
    exit(2);
  }
  size_t capacity = 1024;
  char** paths = malloc(capacity * sizeof *paths);
  char line[4096];
  *count = 0;
  while (fgets(line, sizeof line, file) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    if (line[0] == '\0') continue;
    if (*count == capacity) paths = realloc(paths, (capacity *= 2) * sizeof *paths);
    paths[(*count)++] = strdup(line);
  }
  fclose(file);
  return paths;
}

static int make_copies(const char* src, const char* dir, long count) {
  const int in = open(src, O_RDONLY);
  struct stat st;
  if (in < 0 || fstat(in, &st) != 0) {
    perror(src);
    return 2;
  }
  char* data = malloc((size_t)st.st_size + 64);
  if (data == NULL || read(in, data, (size_t)st.st_size) != st.st_size) {
    perror("read");
    return 2;
  }
  close(in);
  for (long i = 0; i < count; ++i) {
    char path[4096];
    snprintf(path, sizeof path, "%s/c%05ld", dir, i);
    const int trailer = snprintf(data + st.st_size, 64, "vigil-bench-copy-%08ld\n", i);
    const int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (out < 0 || write(out, data, (size_t)(st.st_size + trailer)) != st.st_size + trailer || close(out) != 0) {
      perror(path);
      return 2;
    }
  }
  free(data);
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: exec_timer [-V] [-w WARMUP] -n N [-b BASE] PATH | exec_timer [-V] -l LIST [-B BASELIST] |\n"
          "       exec_timer -c PATH | exec_timer -m SRC DIR N\n");
  exit(2);
}

int main(int argc, char** argv) {
  long warmup = 0, n = 0;
  const char *list = NULL, *base_list = NULL, *base = NULL;
  int opt;
  while ((opt = getopt(argc, argv, "Vw:n:b:l:B:c:m")) != -1) {
    switch (opt) {
      case 'V': use_vfork = 1; break;
      case 'w': warmup = strtol(optarg, NULL, 10); break;
      case 'n': n = strtol(optarg, NULL, 10); break;
      case 'b': base = optarg; break;
      case 'l': list = optarg; break;
      case 'B': base_list = optarg; break;
      case 'c': {
        const int rc = run_once(optarg);
        if (rc == 0) printf("ok\n");
        else if (rc >= 200) printf("%s (errno %d)\n", strerror(rc - 200), rc - 200);
        else printf("exit status %d\n", rc);
        return rc == 0 ? 0 : 1;
      }
      case 'm':
        if (argc - optind != 3) usage();
        return make_copies(argv[optind], argv[optind + 1], strtol(argv[optind + 2], NULL, 10));
      default: usage();
    }
  }
  if (list != NULL) {
    size_t count = 0, base_count = 0;
    char** paths = read_list(list, &count);
    char** bases = base_list != NULL ? read_list(base_list, &base_count) : NULL;
    if (count == 0 || (bases != NULL && base_count < count)) {
      fprintf(stderr, "exec_timer: %s is empty or the base list is shorter\n", list);
      return 2;
    }
    return run_series(paths, bases, count);
  }
  if (n <= 0 || optind != argc - 1) usage();
  char** paths = malloc((size_t)n * sizeof *paths);
  char** bases = base != NULL ? malloc((size_t)n * sizeof *bases) : NULL;
  for (long i = 0; i < n; ++i) {
    paths[i] = argv[optind];
    if (bases != NULL) bases[i] = (char*)base;
  }
  for (long i = 0; i < warmup; ++i) {
    (void)run_once(paths[0]);
    if (bases != NULL) (void)run_once(bases[0]);
  }
  return run_series(paths, bases, (size_t)n);
}
