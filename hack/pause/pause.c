/* The Pod sandbox's process (what registry.k8s.io/pause does): holds the Pod's namespaces, reaps
 * orphans, exits 0 on SIGINT/SIGTERM. Built static by hack/image.sh into the sandbox image that
 * the dev cluster's containerd is configured with (no registry is reachable here). */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
  (void)sig;
  _exit(0);
}

static void on_child(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction stop = {0};
  stop.sa_handler = on_stop;
  sigaction(SIGINT, &stop, NULL);
  sigaction(SIGTERM, &stop, NULL);
  struct sigaction child = {0};
  child.sa_handler = on_child;
  child.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &child, NULL);
  for (;;) pause();
  return EXIT_FAILURE;
}
