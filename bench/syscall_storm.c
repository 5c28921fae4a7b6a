// Syscall storm for bench/events.sh: WORKERS processes each run MODE in a tight loop for
// SECONDS and the totals are printed as one line: "mode=M ops=N seconds=S ops_per_s=R".
//   openclose  open(FILE, O_RDONLY) + close            (2 syscalls per op)
//   connect    socket + connect to a loopback listener + close; the listener accepts + closes
//   forkexec   fork + execve(/bin/true) + exit + wait
// Only loopback is used; every child is waited for; a watchdog alarm ends a stuck run.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int start_listener(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 4096) != 0) {
    perror("listener");
    exit(2);
  }
  socklen_t len = sizeof addr;
  getsockname(fd, (struct sockaddr *)&addr, &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

static uint64_t run_worker(const char *mode, double seconds, const char *file, uint16_t port) {
  uint64_t ops = 0;
  const double end = now_s() + seconds;
  if (strcmp(mode, "openclose") == 0) {
    while ((ops & 255) != 0 || now_s() < end) {
      int fd = open(file, O_RDONLY | O_CLOEXEC);
      if (fd >= 0) close(fd);
      ++ops;
    }
  } else if (strcmp(mode, "connect") == 0) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    while ((ops & 15) != 0 || now_s() < end) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) continue;
      // Linger 0: no TIME_WAIT pile-up over a long storm.
      struct linger lg = {1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      connect(fd, (struct sockaddr *)&addr, sizeof addr);
      close(fd);
      ++ops;
    }
  } else if (strcmp(mode, "forkexec") == 0) {
    while (now_s() < end) {
      pid_t child = fork();
      if (child == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
      }
      if (child > 0) waitpid(child, NULL, 0);
      ++ops;
    }
  } else {
    fprintf(stderr, "unknown mode %s\n", mode);
    exit(2);
  }
  return ops;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s openclose|connect|forkexec SECONDS WORKERS [FILE]\n", argv[0]);
    return 2;
  }
  const char *mode = argv[1];
  const double seconds = atof(argv[2]);
  const int workers = atoi(argv[3]);
  const char *file = argc > 4 ? argv[4] : "/etc/hostname";
  alarm((unsigned)seconds + 30);
  uint16_t port = 0;
  int listener = -1;
  pid_t acceptor = -1;
  if (strcmp(mode, "connect") == 0) {
    listener = start_listener(&port);
    acceptor = fork();
    if (acceptor == 0) {
      for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) close(fd);
      }
    }
  }
  uint64_t *counts = mmap(NULL, sizeof(uint64_t) * workers, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  const double start = now_s();
  for (int i = 0; i < workers; ++i) {
    if (fork() == 0) {
      counts[i] = run_worker(mode, seconds, file, port);
      _exit(0);
    }
  }
  for (int i = 0; i < workers; ++i) wait(NULL);
  const double elapsed = now_s() - start;
  if (acceptor > 0) {
    kill(acceptor, SIGKILL);
    waitpid(acceptor, NULL, 0);
  }
  uint64_t total = 0;
  for (int i = 0; i < workers; ++i) total += counts[i];
  printf("mode=%s ops=%llu seconds=%.3f ops_per_s=%.0f\n", mode, (unsigned long long)total, elapsed, total / elapsed);
  return 0;
}
