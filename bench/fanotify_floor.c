// The floor under any fanotify exec listener, for bench/exec_overhead.sh (compiled there with cc):
// a listener that allows every FAN_OPEN_EXEC_PERM event on one mount and does nothing else.
//
//   fanotify_floor [-t] MOUNT READY_FILE
//
// Without -t one thread reads an event, answers FAN_ALLOW and closes the descriptor (the least
// any listener must do). With -t the reader hands each event to a worker thread through a
// mutex + condition variable, which answers it: the reader/worker split of vigil's listener and
// of fapolicyd, without any decision work. READY_FILE is created once the mark is in place.
// Stop it with SIGTERM/SIGKILL: the kernel allows every pending event when the group closes.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <unistd.h>

enum { kQueue = 256 };

static int group = -1;
static int queue[kQueue];
static unsigned head = 0, count = 0;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready = PTHREAD_COND_INITIALIZER;

static void allow(int fd) {
  struct fanotify_response response = {.fd = fd, .response = FAN_ALLOW};
  while (write(group, &response, sizeof response) < 0 && errno == EINTR) {
  }
  close(fd);
}

static void* worker(void* unused) {
  (void)unused;
  for (;;) {
    pthread_mutex_lock(&lock);
    while (count == 0) pthread_cond_wait(&ready, &lock);
    const int fd = queue[head];
    head = (head + 1) % kQueue;
    --count;
    pthread_mutex_unlock(&lock);
    allow(fd);
  }
  return NULL;
}

int main(int argc, char** argv) {
  int handoff = 0;
  if (argc > 1 && strcmp(argv[1], "-t") == 0) {
    handoff = 1;
    ++argv;
    --argc;
  }
  if (argc != 3) {
    fprintf(stderr, "usage: fanotify_floor [-t] MOUNT READY_FILE\n");
    return 2;
  }
  group = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
  if (group < 0) {
    perror("fanotify_init");
    return 1;
  }
  if (fanotify_mark(group, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_OPEN_EXEC_PERM, AT_FDCWD, argv[1]) != 0) {
    perror("fanotify_mark");
    return 1;
  }
  pthread_t thread;
  if (handoff && pthread_create(&thread, NULL, worker, NULL) != 0) return 1;
  const int marker = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (marker < 0) {
    perror(argv[2]);
    return 1;
  }
  close(marker);
  _Alignas(struct fanotify_event_metadata) char buffer[4096];
  for (;;) {
    ssize_t length = read(group, buffer, sizeof buffer);
    if (length < 0) {
      if (errno == EINTR) continue;
      perror("read");
      return 1;
    }
    struct fanotify_event_metadata* event = (struct fanotify_event_metadata*)buffer;
    for (; FAN_EVENT_OK(event, length); event = FAN_EVENT_NEXT(event, length)) {
      if (event->fd < 0) continue;
      if (!handoff) {
        allow(event->fd);
        continue;
      }
      pthread_mutex_lock(&lock);
      if (count == kQueue) {
        pthread_mutex_unlock(&lock);
        allow(event->fd);
        continue;
      }
      queue[(head + count) % kQueue] = event->fd;
      ++count;
      pthread_mutex_unlock(&lock);
      pthread_cond_signal(&ready);
    }
  }
}
