// Loads bench/syscall_floor.bpf.o, attaches the programs named on the command line, prints
// "ready" and holds them until SIGTERM/SIGINT (bench/events.sh). Links go with the process.
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;
static void on_signal(int sig) { (void)sig; stopping = 1; }

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s OBJECT PROGRAM...\n", argv[0]);
    return 2;
  }
  struct bpf_object *object = bpf_object__open_file(argv[1], NULL);
  if (!object || bpf_object__load(object) != 0) {
    fprintf(stderr, "syscall_floor: cannot load %s\n", argv[1]);
    return 1;
  }
  for (int i = 2; i < argc; i++) {
    struct bpf_program *program = bpf_object__find_program_by_name(object, argv[i]);
    if (!program || !bpf_program__attach(program)) {
      fprintf(stderr, "syscall_floor: cannot attach %s\n", argv[i]);
      return 1;
    }
  }
  struct sigaction action = {.sa_handler = on_signal};
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);
  printf("ready\n");
  fflush(stdout);
  while (!stopping) pause();
  return 0;
}
