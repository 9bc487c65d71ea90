/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmsnap.c - shmusage's figures as snapshot records (see shmsnap.h).
 */
#include "shmsnap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "procs.h"

static uint32_t shmsnap_match_flag(enum shmmap_match how)
{
    switch (how) {
    case SHMMAP_ASIC_ID:
        return TTALLOC_DEVICE_SHM_ASIC_ID;
    case SHMMAP_HOLDERS:
        return TTALLOC_DEVICE_SHM_HOLDERS;
    case SHMMAP_DEVICE_ID:
        return TTALLOC_DEVICE_SHM_DEVICE_ID;
    default:
        return 0;
    }
}

static void shmsnap_copy_text(char *out, size_t cap, const char *text)
{
    size_t len = strnlen(text, cap - 1);
    memcpy(out, text, len);
    out[len] = '\0';
}

/* The process record of sp->pid (shmusage lists processes ascending by pid,
 * so it is the last one when it exists). */
static struct ttalloc_process_info *shmsnap_process(struct shmsnap *s,
                                                    const struct shmusage_process *sp)
{
    if (s->n_processes > 0 && s->processes[s->n_processes - 1].pid == (int32_t)sp->pid)
        return &s->processes[s->n_processes - 1];
    struct ttalloc_process_info *p = &s->processes[s->n_processes++];
    memset(p, 0, sizeof(*p));
    p->pid = (int32_t)sp->pid;
    p->flags = TTALLOC_PROCESS_SHM;
    struct procs_info info;
    int rc = procs_info_read(sp->pid, &info);
    p->uid = rc == 0 ? (uint32_t)info.uid : UINT32_MAX;
    shmsnap_copy_text(p->name, sizeof(p->name),
                      sp->name[0] != '\0' ? sp->name
                      : rc == 0           ? info.name
                                          : "");
    procs_info_free(&info);
    return p;
}

int shmsnap_build(const struct shmusage *u, const struct sysfs_device *devs, size_t ndev,
                  struct shmsnap *out)
{
    memset(out, 0, sizeof(*out));
    out->devices = calloc(u->n_devices ? u->n_devices : 1, sizeof(*out->devices));
    out->processes = calloc(u->n_processes ? u->n_processes : 1, sizeof(*out->processes));
    out->usage = calloc(u->n_processes ? u->n_processes : 1, sizeof(*out->usage));
    if (out->devices == NULL || out->processes == NULL || out->usage == NULL) {
        shmsnap_free(out);
        return -ENOMEM;
    }
    for (size_t i = 0; i < u->n_devices; i++) {
        const struct shmusage_device *sd = &u->devices[i];
        struct ttalloc_device_stats *d = &out->devices[out->n_devices++];
        d->device = sd->device;
        d->flags = shmsnap_match_flag(sd->how);
        if (sd->unknown)
            d->flags |= TTALLOC_DEVICE_USED_UNKNOWN;
        if (sd->sysfs < 0) {
            d->flags |= TTALLOC_DEVICE_REMOTE;
            if (sd->board_sysfs >= 0 && (size_t)sd->board_sysfs < ndev)
                shmsnap_copy_text(d->board_type, sizeof(d->board_type),
                                  devs[sd->board_sysfs].card_type);
        }
        d->processes = sd->processes;
        memcpy(d->used, sd->used, sizeof(d->used));
        memcpy(d->peak, sd->used, sizeof(d->peak));
    }
    for (size_t i = 0; i < u->n_processes; i++) {
        const struct shmusage_process *sp = &u->processes[i];
        struct ttalloc_process_info *p = shmsnap_process(out, sp);
        if (sp->unknown)
            p->flags |= TTALLOC_PROCESS_BYTES_UNKNOWN;
        uint64_t sum = shmstats_sum(sp->bytes);
        p->bytes = p->bytes > UINT64_MAX - sum ? UINT64_MAX : p->bytes + sum;
        p->peak_bytes = p->bytes;
        struct ttalloc_usage *us = &out->usage[out->n_usage++];
        us->pid = (int32_t)sp->pid;
        us->device = sp->device;
        memcpy(us->bytes, sp->bytes, sizeof(us->bytes));
        memcpy(us->peak, sp->bytes, sizeof(us->peak));
    }
    return 0;
}

void shmsnap_free(struct shmsnap *s)
{
    free(s->devices);
    free(s->processes);
    free(s->usage);
    memset(s, 0, sizeof(*s));
}
