/* bench/netpolicy.sh's load: new TCP connections (a fresh connection each time: connect,
 * one byte each way, close) against a server in another network namespace.
 *   netpolicy_connrate server PORT                 accepts forever (killed by the script)
 *   netpolicy_connrate client ADDR PORT SECONDS    prints "conns_per_s p50_us p99_us failures"
 * Bounded: the client stops after SECONDS (and after 10 million connections). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int compare(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int server(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  if (bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0 || listen(fd, 4096) != 0) {
    perror("server");
    return 1;
  }
  for (;;) {
    int conn = accept(fd, NULL, NULL);
    if (conn < 0) continue;
    char byte;
    if (read(conn, &byte, 1) == 1) (void)!write(conn, &byte, 1);
    close(conn);
  }
}

static int client(const char *addr, int port, double seconds) {
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  if (inet_pton(AF_INET, addr, &address.sin_addr) != 1) return 2;
  const size_t max = 10000000;
  double *latency = malloc(max * sizeof(double));
  size_t done = 0, failures = 0;
  const double start = now_s(), end = start + seconds;
  while (done < max) {
    const double t0 = now_s();
    if (t0 >= end) break;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct linger linger = {1, 0}; /* RST on close: no TIME_WAIT pile-up over millions of ports */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, sizeof(linger));
    char byte = 'x';
    if (connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0 || write(fd, &byte, 1) != 1 ||
        read(fd, &byte, 1) != 1) {
      ++failures;
      close(fd);
      if (failures > 1000 && failures > done) break;
      continue;
    }
    close(fd);
    latency[done++] = (now_s() - t0) * 1e6;
  }
  const double elapsed = now_s() - start;
  qsort(latency, done, sizeof(double), compare);
  printf("%.0f %.1f %.1f %zu\n", done / elapsed, done ? latency[done / 2] : 0.0,
         done ? latency[(size_t)(done * 0.99)] : 0.0, failures);
  free(latency);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "server") == 0) return server(atoi(argv[2]));
  if (argc == 5 && strcmp(argv[1], "client") == 0) return client(argv[2], atoi(argv[3]), atof(argv[4]));
  fprintf(stderr, "usage: %s server PORT | client ADDR PORT SECONDS\n", argv[0]);
  return 2;
}
