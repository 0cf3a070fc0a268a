/*
 * insn_profile.c — a QEMU TCG plugin that counts how often each guest instruction runs, for
 * `scripts/profile/profile.sh` (per-function instruction profiles of a benchmark).
 *
 * Every instruction gets an exact inline counter, keyed by its virtual address. A guest
 * brackets measured windows with two architectural no-ops, `hint #0x50` (start) and
 * `hint #0x51` (end); with `window=K` only the K-th window (from 0) is kept, otherwise every
 * instruction counts. Results go to `out=<file>` as "address count" lines.
 *
 * QEMU 7.2's plugin API, version 1 (shared/reference/qemu-toolchain-notes.md §8). The few
 * declarations used are written out here because no Debian package ships the header.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
typedef void (*tb_trans_cb)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*vcpu_udata_cb)(unsigned int, void *);
typedef void (*udata_cb)(qemu_plugin_id_t, void *);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, tb_trans_cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *, enum qemu_plugin_op, void *, uint64_t);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *, vcpu_udata_cb, enum qemu_plugin_cb_flags, void *);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, udata_cb, void *);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define HINT_WINDOW_START 0xD5032A1Fu /* hint #0x50 */
#define HINT_WINDOW_END 0xD5032A3Fu   /* hint #0x51 */

/* Open-addressed table of counters, one per instruction address ever translated. Slots never
 * move (inline ops hold their addresses), so the table is sized once, generously. */
#define SLOTS (1u << 21)
struct slot {
	uint64_t vaddr;
	uint64_t count; /* bumped inline by QEMU */
	uint64_t at_start; /* count when the kept window opened */
	uint64_t kept;     /* counts inside the kept window */
};
static struct slot *table;
static size_t used;
static const char *out_path = "insn_profile.txt";
static long want_window = -1; /* -1: everything counts */
static long windows_seen;
static bool in_window;

static struct slot *slot_for(uint64_t vaddr)
{
	size_t i = (size_t)((vaddr >> 2) * 0x9E3779B97F4A7C15ull) & (SLOTS - 1);
	while (table[i].vaddr != 0 && table[i].vaddr != vaddr + 1)
		i = (i + 1) & (SLOTS - 1);
	if (table[i].vaddr == 0) {
		if (++used > SLOTS * 3 / 4) {
			fprintf(stderr, "insn_profile: table full\n");
			exit(1);
		}
		table[i].vaddr = vaddr + 1; /* 0 marks a free slot */
	}
	return &table[i];
}

static void window_start(unsigned int vcpu, void *data)
{
	(void)vcpu, (void)data;
	if (windows_seen++ != want_window)
		return;
	for (size_t i = 0; i < SLOTS; i++)
		table[i].at_start = table[i].count;
	in_window = true;
}

static void window_end(unsigned int vcpu, void *data)
{
	(void)vcpu, (void)data;
	if (!in_window)
		return;
	for (size_t i = 0; i < SLOTS; i++)
		table[i].kept += table[i].count - table[i].at_start;
	in_window = false;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	(void)id;
	for (size_t n = 0; n < qemu_plugin_tb_n_insns(tb); n++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, n);
		struct slot *s = slot_for(qemu_plugin_insn_vaddr(insn));
		qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &s->count, 1);
		uint32_t op = 0;
		if (qemu_plugin_insn_size(insn) == 4)
			memcpy(&op, qemu_plugin_insn_data(insn), 4);
		if (op == HINT_WINDOW_START && want_window >= 0)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, window_start, QEMU_PLUGIN_CB_NO_REGS, NULL);
		if (op == HINT_WINDOW_END && want_window >= 0)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, window_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
	}
}

static void write_results(qemu_plugin_id_t id, void *data)
{
	(void)id, (void)data;
	FILE *f = fopen(out_path, "w");
	if (!f) {
		perror(out_path);
		return;
	}
	for (size_t i = 0; i < SLOTS; i++) {
		uint64_t n = want_window >= 0 ? table[i].kept : table[i].count;
		if (table[i].vaddr && n)
			fprintf(f, "%" PRIx64 " %" PRIu64 "\n", table[i].vaddr - 1, n);
	}
	fclose(f);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const void *info, int argc,
							       char **argv)
{
	(void)info;
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "out=", 4) == 0)
			out_path = argv[i] + 4;
		else if (strncmp(argv[i], "window=", 7) == 0)
			want_window = strtol(argv[i] + 7, NULL, 10);
	}
	table = calloc(SLOTS, sizeof *table);
	if (!table)
		return 1;
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	qemu_plugin_register_atexit_cb(id, write_results, NULL);
	return 0;
}
