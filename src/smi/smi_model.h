/* SPDX-License-Identifier: Apache-2.0 */
/*
 * smi_model.h - what tt-smi shows: devices (sysfs, telemetry, capacity),
 * the processes holding them, and, when a server answers, memory per device
 * and per process. Built in three steps: smi_model_load (discovery, no
 * server needed), smi_model_merge_snapshot (the server's figures), then
 * smi_model_select (-i). Every output module only reads the model.
 */
#ifndef TTALLOC_SMI_MODEL_H
#define TTALLOC_SMI_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sysfs.h"
#include "ttalloc.h"

struct smi_device {
    struct sysfs_device sys;
    int used_known;        /* 1 when a server or SHM gave used[] */
    const char *shm_match; /* "asic_id", "holders", "device_id", NULL */
    uint64_t used[TTALLOC_NUM_TYPES];
    uint64_t total[TTALLOC_NUM_TYPES]; /* 0 = unknown */
    int peak_known;                    /* 1 when peak[] is the server's figure */
    uint64_t peak[TTALLOC_NUM_TYPES];  /* highest used since the server started */
    int selected;
};

struct smi_usage {
    int device;  /* tt-kmd ordinal */
    int unknown; /* bytes[] unknown (implausible SHM figures) */
    uint64_t bytes[TTALLOC_NUM_TYPES];
    int peak_known;                   /* 1: peak[] is the server's exact figure */
    uint64_t peak[TTALLOC_NUM_TYPES]; /* since the process started or reset */
};

struct smi_process {
    pid_t pid;
    uid_t uid;
    char name[64];
    char label[64]; /* ttalloc_set_label, "" if none */
    char user[64];
    char *cmdline;
    int tracked;  /* the server knows it */
    int shm_only; /* ... from TT-Metal's SHM statistics only */
    int *devices; /* ordinals it holds or uses, ascending */
    size_t n_devices;
    struct smi_usage *usage; /* from the server, ascending device */
    size_t n_usage;
};

/* A PID left in a TT-Metal SHM region that no longer runs: not a user. */
struct smi_stale {
    pid_t pid;
    int device; /* tt-kmd ordinal, -1 = a chip without a node */
    char name[64];
};

struct smi_model {
    char driver_version[64]; /* "" = unknown */
    char hostname[256];
    int64_t time;     /* seconds since the epoch */
    int time_ms;      /* and milliseconds, 0..999 */
    int server;       /* a server answered */
    int shm;          /* figures from TT-Metal's SHM statistics */
    char socket[128]; /* its path, or the one tried */
    int used_pids_files;
    int used_fd_scan;
    struct smi_device *devices; /* ascending index */
    size_t n_devices;
    struct smi_process *processes; /* ascending pid */
    size_t n_processes;
    int exits_known;            /* the server answered the exit query */
    struct ttalloc_exit *exits; /* leak history, oldest first */
    size_t n_exits;
    struct smi_stale *stale; /* ascending (pid, device) */
    size_t n_stale;
};

/* Discovery: devices, telemetry, board capacity, holders (leaving out
 * `self`). Returns 0, -ENOENT (no driver), -ENOMEM. TTSMI_TEST_HOSTNAME and
 * TTSMI_TEST_TIME (seconds) fix the varying header fields for golden tests. */
int smi_model_load(struct smi_model *m, const char *sysroot, pid_t self);

/* Merge a server snapshot: memory per device (a described device with a
 * serial matches by serial, else TT-Metal device id = ordinal) and per
 * process; tracked processes are added when discovery did not see them.
 * Peaks: a libttalloc process's (exact); a device's as the server keeps it,
 * unless two server device ids stand for the one device. SHM-only processes
 * have none.
 * Returns 0 or -ENOMEM. */
int smi_model_merge_snapshot(struct smi_model *m, const struct ttalloc_snapshot *snap, pid_t self);

/* TT-Metal's SHM regions under `sysroot`, by the server's rule
 * (shmusage.h): their stale PIDs always; without a server (`figures` 1)
 * also memory per device and process. Sets m->shm when figures were taken
 * from a region. Returns 0 or -ENOMEM. */
int smi_model_merge_shm(struct smi_model *m, const char *sysroot, pid_t self, int figures);

/* Mark the devices named in `list` (comma-separated index, bus id or
 * serial; NULL = all) as selected. Returns 0, -EINVAL for an empty item, or
 * -ENODEV naming the first item that matches nothing in *bad. */
int smi_model_select(struct smi_model *m, const char *list, const char **bad, size_t *bad_len);

/* The device with ordinal `index`, or NULL. */
struct smi_device *smi_model_device(struct smi_model *m, int index);
/* Does process p use or hold a selected device? */
int smi_model_process_selected(const struct smi_model *m, const struct smi_process *p);
/* p's usage of `device`, or NULL if the server reported none. */
const struct smi_usage *smi_model_usage(const struct smi_process *p, int device);
/* Are p's figures on device u (smi_model_usage, maybe NULL) known? Known:
 * a usage with plausible figures, or none for a process the server tracks
 * (it holds 0 there). Unknown: implausible figures, or a holder with no SHM
 * entry and no server figures. */
int smi_model_usage_known(const struct smi_model *m, const struct smi_process *p,
                          const struct smi_usage *u);

/* Is there an exact peak for process p on the device of usage u (NULL: p
 * has no usage there)? Only a server's own accounting has one. */
int smi_model_process_peak_known(const struct smi_model *m, const struct smi_process *p,
                                 const struct smi_usage *u);
/* Is d's peak[] known (a server answered, for this device alone)? */
int smi_model_device_peak_known(const struct smi_device *d);
/* Free bytes of `type` on d: its total less what lives in it. TRACE buffers
 * live in DRAM, L1_SMALL and CB in L1; a part counts against its host only
 * when it has no total of its own. Returns 0 and *out, or -ENODATA when the
 * total or a part is unknown, or the parts exceed the total. */
int smi_model_free_bytes(const struct smi_device *d, int type, uint64_t *out);

void smi_model_free(struct smi_model *m);

#endif /* TTALLOC_SMI_MODEL_H */
