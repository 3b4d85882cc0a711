/* SPDX-License-Identifier: MIT */
/*
 * The trace parser.  Every rule of TRACE-FORMAT.md that a trace can break is
 * checked here, including those that depend on earlier lines (memslot ids and
 * overlaps per address space, maxphyaddr before the first memslot), so a
 * malformed trace is rejected before anything runs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"
#include "vmmu.h"

#define MAX_WORDS 8
#define PAGE_MASK_4K 0xfffull

struct parse_slot {
	uint64_t id, gpa, size;
	bool smm;
};

struct parser {
	struct trace *t;
	const char *name;
	uint32_t line;
	char *err;
	size_t errlen;
	bool seen_command, seen_memslot;
	struct parse_slot *slots;        /* live slots, both address spaces */
	size_t nr_slots, cap_slots;
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(p->err, p->errlen, "%s:%u: ", p->name, p->line);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < p->errlen)
		vsnprintf(p->err + n, p->errlen - n, fmt, ap);
	va_end(ap);
	return -1;
}

/* A number: 0x-prefixed hex or decimal, up to 64 bits; with @size, an
 * optional K, M or G suffix (powers of 1024). */
static int parse_number(struct parser *p, const char *s, bool size, uint64_t *out)
{
	const char *d = s;
	unsigned int base = 10, shift = 0;
	uint64_t v = 0;

	if (d[0] == '0' && (d[1] == 'x' || d[1] == 'X')) {
		base = 16;
		d += 2;
	}
	const char *digits = d;

	for (; *d; d++) {
		unsigned int digit;

		if (*d >= '0' && *d <= '9')
			digit = *d - '0';
		else if (base == 16 && *d >= 'a' && *d <= 'f')
			digit = *d - 'a' + 10;
		else if (base == 16 && *d >= 'A' && *d <= 'F')
			digit = *d - 'A' + 10;
		else
			break;
		if (v > (UINT64_MAX - digit) / base)
			return fail(p, "'%s' does not fit in 64 bits", s);
		v = v * base + digit;
	}
	if (d == digits)
		return fail(p, "'%s' is not a number", s);
	if (*d && size && !d[1]) {
		shift = *d == 'K' ? 10 : *d == 'M' ? 20 : *d == 'G' ? 30 : 0;
		if (shift)
			d++;
	}
	if (*d)
		return fail(p, "'%s' is not a number", s);
	if (shift && v > (UINT64_MAX >> shift))
		return fail(p, "'%s' does not fit in 64 bits", s);
	*out = v << shift;
	return 0;
}

static struct trace_cmd *new_cmd(struct parser *p, enum trace_op op)
{
	struct trace *t = p->t;

	if (t->nr == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct trace_cmd *c = realloc(t->cmds, cap * sizeof(*c));

		if (!c)
			return NULL;
		t->cmds = c;
		t->cap = cap;
	}
	memset(&t->cmds[t->nr], 0, sizeof(t->cmds[0]));
	t->cmds[t->nr].op = op;
	t->cmds[t->nr].line = p->line;
	return &t->cmds[t->nr++];
}

static int access_size(struct parser *p, const char *word, uint8_t *size)
{
	uint64_t v;

	if (parse_number(p, word, true, &v))
		return -1;
	if (v != 1 && v != 2 && v != 4 && v != 8)
		return fail(p, "size must be 1, 2, 4 or 8, not %s", word);
	*size = (uint8_t)v;
	return 0;
}

static int check_value_fits(struct parser *p, uint64_t value, unsigned int size)
{
	if (size < 8 && (value >> (8 * size)))
		return fail(p, "value %#llx does not fit in %u bytes", (unsigned long long)value, size);
	return 0;
}

static int check_range(struct parser *p, uint64_t gpa, uint64_t size)
{
	if ((gpa | size) & PAGE_MASK_4K)
		return fail(p, "GPA and size must be 4K-aligned");
	if (!size)
		return fail(p, "size must not be 0");
	if (size - 1 > UINT64_MAX - gpa)
		return fail(p, "range goes beyond the 64-bit address space");
	return 0;
}

static struct parse_slot *find_live_slot(struct parser *p, uint64_t id)
{
	for (size_t i = 0; i < p->nr_slots; i++)
		if (p->slots[i].id == id)
			return &p->slots[i];
	return NULL;
}

static int parse_memslot(struct parser *p, char **w, int n)
{
	uint64_t id, gpa, size;
	struct trace_cmd *c;
	bool ro = false, smm = false;

	if (n < 3)
		return fail(p, "usage: memslot ID GPA SIZE [ro] [smm] | memslot ID delete");
	if (parse_number(p, w[1], false, &id))
		return -1;
	if (id > UINT32_MAX)
		return fail(p, "memslot id %s is out of range (0..%u)", w[1], UINT32_MAX);
	if (!strcmp(w[2], "delete")) {
		struct parse_slot *s = find_live_slot(p, id);

		if (n != 3)
			return fail(p, "extra operand '%s'", w[3]);
		if (!s)
			return fail(p, "memslot %llu does not exist", (unsigned long long)id);
		*s = p->slots[--p->nr_slots];
		c = new_cmd(p, OP_MEMSLOT_DELETE);
		if (!c)
			return fail(p, "out of memory");
		c->a = id;
		return 0;
	}
	if (n < 4)
		return fail(p, "usage: memslot ID GPA SIZE [ro] [smm]");
	if (parse_number(p, w[2], true, &gpa) || parse_number(p, w[3], true, &size))
		return -1;
	for (int i = 4; i < n; i++) {
		if (!strcmp(w[i], "ro") && !ro)
			ro = true;
		else if (!strcmp(w[i], "smm") && !smm)
			smm = true;
		else
			return fail(p, "unexpected operand '%s' (expected ro or smm)", w[i]);
	}
	if (check_range(p, gpa, size))
		return -1;
	if (gpa >> p->t->maxphyaddr || size > (1ull << p->t->maxphyaddr) - gpa)
		return fail(p, "memslot goes beyond MAXPHYADDR (%u bits)", p->t->maxphyaddr);
	if (find_live_slot(p, id))
		return fail(p, "memslot %llu already exists", (unsigned long long)id);
	for (size_t i = 0; i < p->nr_slots; i++) {
		const struct parse_slot *o = &p->slots[i];

		if (o->smm == smm && gpa < o->gpa + o->size && o->gpa < gpa + size)
			return fail(p, "memslot overlaps memslot %llu", (unsigned long long)o->id);
	}
	if (p->nr_slots == p->cap_slots) {
		size_t cap = p->cap_slots ? 2 * p->cap_slots : 16;
		struct parse_slot *s = realloc(p->slots, cap * sizeof(*s));

		if (!s)
			return fail(p, "out of memory");
		p->slots = s;
		p->cap_slots = cap;
	}
	p->slots[p->nr_slots++] = (struct parse_slot){ .id = id, .gpa = gpa, .size = size, .smm = smm };
	p->seen_memslot = true;
	c = new_cmd(p, OP_MEMSLOT_ADD);
	if (!c)
		return fail(p, "out of memory");
	c->a = id;
	c->b = gpa;
	c->c = size;
	c->ro = ro;
	c->smm = smm;
	return 0;
}

static int parse_version(struct parser *p, char **w, int n)
{
	const char *v = n == 2 ? w[1] : "";
	char *end;
	unsigned long major, minor = 0;

	if (n != 2)
		return fail(p, "usage: version 1.N");
	if (p->seen_command)
		return fail(p, "'version' must be the first command");
	p->seen_command = true;
	major = strtoul(v, &end, 10);
	if (end == v || (*end && *end != '.'))
		return fail(p, "bad version '%s'", v);
	if (*end == '.') {
		const char *m = end + 1;

		minor = strtoul(m, &end, 10);
		if (end == m || *end)
			return fail(p, "bad version '%s'", v);
	}
	if (major != TRACE_VERSION_MAJOR || minor > TRACE_VERSION_MINOR)
		return fail(p, "trace needs format version %s; this vmmu reads %u.0 to %u.%u", v,
			    TRACE_VERSION_MAJOR, TRACE_VERSION_MAJOR, TRACE_VERSION_MINOR);
	return 0;
}

/* read GVA [SIZE] [implicit] | write GVA [VALUE [SIZE]] [implicit] | fetch GVA */
static int parse_access(struct parser *p, enum trace_op op, char **w, int n)
{
	struct trace_cmd *c = new_cmd(p, op);
	int max_numbers = op == OP_WRITE ? 2 : op == OP_READ ? 1 : 0;
	uint64_t value = 0xa5;

	if (!c)
		return fail(p, "out of memory");
	c->size = 1;
	if (n > 2 && !strcmp(w[n - 1], "implicit")) {
		if (op == OP_FETCH)
			return fail(p, "'implicit' does not apply to fetch");
		c->implicit = true;
		n--;
	}
	if (n < 2)
		return fail(p, "missing address");
	if (n - 2 > max_numbers)
		return fail(p, "extra operand '%s'", w[2 + max_numbers]);
	if (parse_number(p, w[1], false, &c->a))
		return -1;
	if (op == OP_READ && n == 3 && access_size(p, w[2], &c->size))
		return -1;
	if (op == OP_WRITE && n >= 3 && parse_number(p, w[2], false, &value))
		return -1;
	if (op == OP_WRITE && n == 4 && access_size(p, w[3], &c->size))
		return -1;
	if (op == OP_WRITE) {
		if (check_value_fits(p, value, c->size))
			return -1;
		c->b = value;
	}
	if ((c->a & PAGE_MASK_4K) + c->size > PAGE_MASK_4K + 1)
		return fail(p, "access crosses a 4K boundary");
	return 0;
}

/* pwrite GPA VALUE [SIZE] | pread GPA [SIZE] */
static int parse_phys(struct parser *p, enum trace_op op, char **w, int n)
{
	int numbers = op == OP_PWRITE ? 2 : 1;
	struct trace_cmd *c = new_cmd(p, op);

	if (!c)
		return fail(p, "out of memory");
	c->size = 8;
	if (n < 1 + numbers)
		return fail(p, "missing operand");
	if (n > 2 + numbers)
		return fail(p, "extra operand '%s'", w[2 + numbers]);
	if (parse_number(p, w[1], false, &c->a))
		return -1;
	if (op == OP_PWRITE && parse_number(p, w[2], false, &c->b))
		return -1;
	if (n == 2 + numbers && access_size(p, w[1 + numbers], &c->size))
		return -1;
	if (c->a & (c->size - 1))
		return fail(p, "GPA is not aligned to the size (%u)", c->size);
	if (op == OP_PWRITE)
		return check_value_fits(p, c->b, c->size);
	return 0;
}

struct reg_word {
	const char *word;
	enum vmmu_reg reg;
	uint64_t max;
};

static const struct reg_word reg_words[] = {
	{ "cr0", VMMU_REG_CR0, UINT64_MAX },
	{ "cr3", VMMU_REG_CR3, UINT64_MAX },
	{ "cr4", VMMU_REG_CR4, UINT64_MAX },
	{ "efer", VMMU_REG_EFER, UINT64_MAX },
	{ "rflags", VMMU_REG_RFLAGS, UINT64_MAX },
	{ "pkru", VMMU_REG_PKRU, UINT32_MAX },
	{ "pkrs", VMMU_REG_PKRS, UINT32_MAX },
	{ "cpl", VMMU_REG_CPL, 3 },
	{ "smm", VMMU_REG_SMM, 1 },
};

static int parse_reg(struct parser *p, const struct reg_word *r, char **w, int n)
{
	struct trace_cmd *c;
	uint64_t v;

	if (n < 2)
		return fail(p, "missing value");
	if (n > 2)
		return fail(p, "extra operand '%s'", w[2]);
	if (parse_number(p, w[1], false, &v))
		return -1;
	if (v > r->max || (r->reg == VMMU_REG_CPL && v != 0 && v != 3))
		return fail(p, "%s %s is out of range", r->word, w[1]);
	c = new_cmd(p, OP_SET_REG);
	if (!c)
		return fail(p, "out of memory");
	c->reg = (uint8_t)r->reg;
	c->a = v;
	return 0;
}

static int parse_words(struct parser *p, char **w, int n)
{
	const char *cmd = w[0];
	struct trace_cmd *c;
	uint64_t v;

	if (!strcmp(cmd, "version"))
		return parse_version(p, w, n);
	p->seen_command = true;
	for (size_t i = 0; i < sizeof(reg_words) / sizeof(reg_words[0]); i++)
		if (!strcmp(cmd, reg_words[i].word))
			return parse_reg(p, &reg_words[i], w, n);
	if (!strcmp(cmd, "memslot"))
		return parse_memslot(p, w, n);
	if (!strcmp(cmd, "read"))
		return parse_access(p, OP_READ, w, n);
	if (!strcmp(cmd, "write"))
		return parse_access(p, OP_WRITE, w, n);
	if (!strcmp(cmd, "fetch"))
		return parse_access(p, OP_FETCH, w, n);
	if (!strcmp(cmd, "pwrite"))
		return parse_phys(p, OP_PWRITE, w, n);
	if (!strcmp(cmd, "pread"))
		return parse_phys(p, OP_PREAD, w, n);
	if (!strcmp(cmd, "flush")) {
		if (n != 1)
			return fail(p, "extra operand '%s'", w[1]);
		return new_cmd(p, OP_FLUSH) ? 0 : fail(p, "out of memory");
	}

	/* The rest take exactly one or two numbers. */
	bool range = !strcmp(cmd, "zap") || !strcmp(cmd, "invalidate");
	int want = range ? 3 : 2;

	if (strcmp(cmd, "maxphyaddr") && strcmp(cmd, "vcpu") && strcmp(cmd, "invlpg") && !range)
		return fail(p, "unknown command '%s'", cmd);
	if (n < want)
		return fail(p, "missing operand");
	if (n > want)
		return fail(p, "extra operand '%s'", w[want]);
	if (parse_number(p, w[1], false, &v))
		return -1;
	if (!strcmp(cmd, "maxphyaddr")) {
		if (v < 36 || v > 52)
			return fail(p, "maxphyaddr must be 36..52");
		if (p->seen_memslot)
			return fail(p, "maxphyaddr must come before the first memslot");
		p->t->maxphyaddr = (unsigned int)v;
		return 0;
	}
	if (!strcmp(cmd, "vcpu") && v >= TRACE_MAX_VCPUS)
		return fail(p, "vcpu must be 0..%d", TRACE_MAX_VCPUS - 1);
	c = new_cmd(p, !strcmp(cmd, "vcpu") ? OP_VCPU : !strcmp(cmd, "invlpg") ? OP_INVLPG :
		       !strcmp(cmd, "zap") ? OP_ZAP : OP_INVALIDATE);
	if (!c)
		return fail(p, "out of memory");
	c->a = v;
	if (range) {
		if (parse_number(p, w[2], true, &c->b) || check_range(p, c->a, c->b))
			return -1;
	}
	return 0;
}

/* Splits one line into words; a '#' starts a comment. */
static int split_line(struct parser *p, char *s, char **w)
{
	int n = 0;

	for (char *h = s; *h; h++)
		if (*h == '#') {
			*h = 0;
			break;
		}
	for (char *tok = strtok(s, " \t\r\v\f"); tok; tok = strtok(NULL, " \t\r\v\f")) {
		if (n == MAX_WORDS)
			return fail(p, "too many operands");
		w[n++] = tok;
	}
	return n;
}

int trace_parse(const char *text, size_t len, const char *name, struct trace *t,
		char *err, size_t errlen)
{
	struct parser p = { .t = t, .name = name, .err = err, .errlen = errlen };
	size_t pos = 0;
	int ret = 0;

	memset(t, 0, sizeof(*t));
	t->maxphyaddr = 46;
	t->name = strdup(name);
	if (!t->name) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	while (pos < len && !ret) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		char *w[MAX_WORDS], *line;
		int n;

		p.line++;
		if (memchr(text + pos, '\0', end - pos)) {
			ret = fail(&p, "NUL byte in trace");
			break;
		}
		line = strndup(text + pos, end - pos);
		if (!line) {
			ret = fail(&p, "out of memory");
			break;
		}
		n = split_line(&p, line, w);
		if (n < 0)
			ret = -1;
		else if (n > 0)
			ret = parse_words(&p, w, n);
		free(line);
		pos = end + 1;
	}
	free(p.slots);
	if (ret)
		trace_free(t);
	return ret;
}

void trace_free(struct trace *t)
{
	free(t->cmds);
	free(t->name);
	memset(t, 0, sizeof(*t));
}
