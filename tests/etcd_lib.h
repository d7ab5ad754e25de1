/*
 * etcd_lib.h - a real etcd (Debian's etcd-server) for the cluster tests:
 * a one-member cluster on free loopback ports with its data in a fresh
 * temporary directory, tuned to be quick (10 ms heartbeats, so the
 * shortest lease is 1 s; progress notifications every 300 ms).
 *
 * The etcd binary is $ETCD, else `etcd` on PATH. Its output goes to
 * DIR/etcd.log. The child dies with the thread that started it
 * (PR_SET_PDEATHSIG), so a crashed test leaves no etcd behind.
 * Not thread-safe: one thread drives one struct etcd_proc.
 */
#ifndef MC_TESTS_ETCD_LIB_H
#define MC_TESTS_ETCD_LIB_H

#include <stdint.h>
#include <sys/types.h>

struct etcd_proc {
	pid_t pid;	    /* 0 when not running */
	char dir[256];	    /* the temporary directory */
	char url[64];	    /* http://127.0.0.1:CLIENT_PORT */
	unsigned port;	    /* client port */
	unsigned peer_port; /* peer port */
};

/* Makes a directory, picks two free ports, starts etcd and waits until it
 * answers (10 s at most). 0, or -errno with a message on stderr. */
int etcd_proc_start(struct etcd_proc *p);
/* Starts it again on the same directory and ports (data kept). */
int etcd_proc_restart(struct etcd_proc *p);
/* SIGTERM and wait (SIGKILL after 5 s); data kept. */
void etcd_proc_stop(struct etcd_proc *p);
/* SIGKILL and wait. */
void etcd_proc_kill(struct etcd_proc *p);
/*
 * SIGSTOP / SIGCONT: etcd keeps its sockets but answers nothing (pause
 * returns once every thread of it is stopped).
 */
void etcd_proc_pause(struct etcd_proc *p);
void etcd_proc_resume(struct etcd_proc *p);
/* Stops it and removes the directory. */
void etcd_proc_destroy(struct etcd_proc *p);
/*
 * A loopback port nobody listens on right now, below the kernel's
 * ephemeral range when there is room (nothing else takes it meanwhile).
 */
unsigned etcd_free_port(void);
/* Starts @p or ends the process with a message naming @who: for suites
 * whose every test needs etcd (bootstrap installs it). */
void etcd_proc_start_or_exit(struct etcd_proc *p, const char *who);

/* The monotonic clock in ms, and a sleep in ms, for timing tests. */
uint64_t etcd_ms_now(void);
void etcd_sleep_ms(unsigned ms);

#endif
