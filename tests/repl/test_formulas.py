#!/usr/bin/env python3
"""tests/repl/test_formulas.py: what the stepper prints is mathematics that the REPL agrees with.

For every op in core/ops.def and every operand form (named, compound on either side, negative
value, negative literal, constant, broadcast tensor), and for ~50 random scalar programs (fixed
seed), a program is stepped to the end through the real binary. Every line

    local dOUT/dIN = FORMULA [= WITH NUMBERS] = VALUE
    VJP -> IN.grad += UPSTREAM x LOCAL = VALUE

is parsed; FORMULA and WITH NUMBERS are pasted into a fresh session that has the program's names
(and `out` bound to the stepped node's expression when the formula uses it) and must evaluate to
VALUE within its printed precision; UPSTREAM x LOCAL must equal VALUE within theirs, and LOCAL
must be the VALUE of the local line above it. A tensor's VALUE is a preview, `(1, 3) [1, 0, 1]`:
its FORMULA pasted back (elementwise comparisons and `a if mask else b` work on tensors) must give
those numbers, to the preview's four digits (a long preview ends in `...`: the elements shown are
checked). An input that broadcasts has its local at the output's shape, each element's derivative;
its VJP line then gives the sum over the broadcast dims, which must equal the grad the engine adds.
A VJP rule line (`VJP rule dW = X.T @ G`, non-elementwise ops) is pasted back with G bound to the
step's upstream and must give the VJP line's numbers; rules that name torch's internal functions
(select_backward, slice_backward, index_add, onehot, narrow, layernorm's xhat and std) are counted as shown.
Every op of core/ops.def must be used by some program (OP_FORMS says how each is recognised).

usage: test_formulas.py BACKSTEP
"""
import math
import os
import random
import re
import subprocess
import sys

EXE = sys.argv[1]
PREC = 6
DEFS = "h = param(0.75); a = param(0.3); y = param(0.5); b = param(-0.2); c = 2.0"
TDEFS = DEFS + "; X = param([[0.5, -1.0, 2.0]]); W = param([[0.1, 0.2], [-0.3, 0.4], [0.5, -0.6]])"

STEP_RE = re.compile(r"^step \d+/\d+  (.*?)\s+upstream d")
LOCAL_RE = re.compile(r"^  (.*?)\s*local (d.*)$")
PREVIEW_RE = re.compile(r"^\(([\d, ]*)\) \[(.*)\]$")
VJP_RE = re.compile(r"^\s+VJP -> .*?\.grad \+= (\S+) x (\S+) = (\S+)")
RULE_RE = re.compile(r"^  (.*?)\s*VJP rule d(?:\(.+?\)|\S+) = (.*)   \(.* is \(.*\)\)$")
# functions a VJP rule names that are torch's internals, not the language's: shown, not pasted
RULE_ONLY_SHOWN = re.compile(r"\b(select_backward|slice_backward|index_add|onehot|xhat|std|narrow)\b")
BCAST_RE = re.compile(r"^\s+VJP -> .*?\.grad \+= (\S+) \(upstream x local, summed over the broadcast dims\)")


def preview_numbers(text):
    """the numbers of a whole preview "(1, 3) [a, b, c]", or None (cut short, or not one)"""
    pm = PREVIEW_RE.match(text.strip())
    if not pm or "..." in pm.group(2):
        return None
    return [float(v) for v in pm.group(2).split(", ")]


CACHE = {}        # (args, src) -> (rc, out, err), filled by batches
COLLECT = None    # a list while the paste sources are being collected


def run(args, src):
    hit = CACHE.get((tuple(args), src))
    if hit is not None:
        return hit
    p = subprocess.run([EXE, "--no-window"] + args, input=src, capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout, p.stderr


MARK = "@@end-of-program@@"


def run_batch(args, srcs):
    """run many sources in one process (:reset between them: a fresh session each) and fill the
    cache with each one's output; starting the binary hundreds of times would cost more than
    the checks. If the batch stops early (an error), the rest run one by one later."""
    srcs = list(dict.fromkeys(srcs))
    if not srcs:
        return
    text = "".join(":reset\n%sprint(\"%s\")\n" % (src if src.endswith("\n") else src + "\n", MARK)
                   for src in srcs)
    p = subprocess.run([EXE, "--no-window"] + args, input=text, capture_output=True, text=True,
                       timeout=600)
    parts = p.stdout.split(MARK + "\n")
    done = len(parts) - 1 if p.returncode == 0 else len(parts) - 2
    for i in range(max(0, min(done, len(srcs)))):
        CACHE[(tuple(args), srcs[i])] = (0, parts[i], "")


def half_ulp(s):
    """half a unit in the last printed digit of the number s (at PREC significant digits)"""
    v = float(s)
    if v == 0 or not math.isfinite(v):
        return 1e-300
    e = math.floor(math.log10(abs(v)))
    return 0.5 * 10.0 ** (e - PREC + 1) * 1.000001


def number(s):
    s = s.strip("[]")   # a one-element tensor prints as [v] in --quiet
    try:
        v = float(s)
    except ValueError:
        return None
    return v


class Stats:
    def __init__(self):
        self.programs = 0
        self.locals = 0
        self.formulas = 0      # FORMULA and WITH NUMBERS texts evaluated
        self.vjps = 0
        self.bcast_checked = 0   # broadcast VJP lines whose sum was checked
        self.rules_checked = 0   # VJP rules pasted back with G bound to the upstream
        self.rules_shown = 0     # rules in torch's internal names (select_backward, ...)
        self.tensor_checked = 0
        self.failures = []

    def fail(self, prog, msg):
        self.failures.append(f"{msg}\n    program: {prog}")


def check_program(defs, prog, stats, root="Z"):
    """step `prog` (statements after defs) from root; check every line it prints"""
    stats.programs += 1
    rc, out, err = run([], f"{defs}\n{prog}\n:step {root}\n:next 10000\n")
    if rc != 0:
        stats.fail(prog, f"stepping failed (status {rc}): {err.strip()}")
        return
    checks = []          # (expression text, expected VALUE string, what, head or None)
    head = None
    upstream = ""
    bcast_local = None
    pending_rule = None
    last_local = None
    for line in out.splitlines():
        m = STEP_RE.match(line)
        if m:
            head = m.group(1)
            upstream = line.split(" = ")[-1]
            continue
        m = LOCAL_RE.match(line)
        if m:
            stats.locals += 1
            parts = m.group(2).split(" = ")
            if len(parts) < 2:
                stats.fail(prog, f"a local line without a formula: {line}")
                continue
            formula, value = parts[1], parts[-1]
            numbers = parts[2] if len(parts) == 4 else None
            if len(parts) > 4:
                stats.fail(prog, f"too many ' = ' in: {line}")
                continue
            last_local = value
            if number(value) is None:
                # a tensor: VALUE is a preview, "(1, 3) [1, 0, 1]"; the formula pasted back must
                # give those numbers (a constant or a scalar formula: every element equal to it)
                last_local = None
                pm = PREVIEW_RE.match(value)
                if not pm:
                    stats.fail(prog, f"a tensor local whose VALUE is not a preview: {line}")
                    continue
                if "..." in formula:
                    stats.fail(prog, f"a shortened formula cannot be pasted: {line}")
                    continue
                stats.tensor_checked += 1
                nums = [v for v in pm.group(2).split(", ") if v != "..."]
                bcast_local = value
                need_out = re.search(r"\bout\b", formula) is not None
                checks.append((formula, nums, "TENSOR", head if need_out else None, line))
                continue
            if "..." in formula:
                stats.fail(prog, f"a shortened formula cannot be pasted: {line}")
                continue
            if "#" in line:
                stats.fail(prog, f"an internal id in: {line}")
            need_out = re.search(r"\bout\b", formula) is not None
            checks.append((formula, value, "FORMULA", head if need_out else None, line))
            if numbers is not None:
                checks.append((numbers, value, "WITH NUMBERS", None, line))
            continue
        m = RULE_RE.match(line)
        if m:
            # a VJP rule: with G bound to the step's upstream (a whole preview, or a number),
            # it must give the VJP line below it
            rule = m.group(2)
            if RULE_ONLY_SHOWN.search(rule):
                stats.rules_shown += 1
                continue
            pm = PREVIEW_RE.match(upstream.strip())
            if pm and "..." not in pm.group(2):
                shape = [d for d in pm.group(1).replace(" ", "").split(",") if d]
                g = "reshape(tensor([%s]), %s)" % (pm.group(2), ", ".join(shape))
            elif number(upstream) is not None:
                g = upstream.strip()
            else:
                stats.rules_shown += 1
                continue
            pending_rule = ("G = %s; %s" % (g, rule), head if re.search(r"\bout\b", rule) else None, line)
            continue
        if pending_rule is not None and line.lstrip().startswith("VJP -> "):
            expr, hd, rline = pending_rule
            pending_rule = None
            val = re.match(r"^\s+VJP -> .*?\.grad \+= (\(.*?\) \[.*?\]|\S+)", line).group(1)
            pm = PREVIEW_RE.match(val)
            nums = [v for v in pm.group(2).split(", ") if v != "..."] if pm else [val]
            stats.rules_checked += 1
            checks.append((expr, nums, "RULE", hd, rline + "\n    " + line.strip()))
            continue
        m = BCAST_RE.match(line)
        if m:
            # an input that broadcasts: the grad added is the sum of upstream x local over the
            # output's elements (each printed to four digits)
            stats.vjps += 1
            u, l, v = preview_numbers(upstream), preview_numbers(bcast_local or ""), number(m.group(1))
            if v is None:
                stats.fail(prog, f"a broadcast VJP whose value is not a number: {line}")
            elif u is not None and l is not None:
                if len(u) == 1:
                    u = u * len(l)
                want = sum(x * y for x, y in zip(u, l))
                tol = sum(abs(x) + abs(y) for x, y in zip(u, l)) * 5e-4 + half_ulp(m.group(1))
                if len(u) != len(l) or abs(want - v) > tol:
                    stats.fail(prog, f"sum of upstream x local is {want!r}, printed {m.group(1)}: {line}")
                else:
                    stats.bcast_checked += 1
            bcast_local = None
            continue
        m = VJP_RE.match(line)
        if m:
            stats.vjps += 1
            up, loc, val = m.groups()
            if last_local is not None and loc != last_local:
                stats.fail(prog, f"LOCAL {loc} is not the local line's VALUE {last_local}: {line}")
            u, l, v = number(up), number(loc), number(val)
            if None in (u, l, v):
                stats.fail(prog, f"VJP numbers do not parse: {line}")
                continue
            tol = abs(u) * half_ulp(loc) + abs(l) * half_ulp(up) + half_ulp(val) + 1e-300
            if abs(u * l - v) > tol * 1.01:
                stats.fail(prog, f"UPSTREAM x LOCAL = {u * l!r}, printed {val}: {line}")
    if not checks:
        return
    # paste every formula into one fresh session with the same names
    src = [defs, prog]
    for expr, _, _, hd, _ in checks:
        if hd is not None:
            src.append(f"out = {hd}")
        src.append(expr)
    if COLLECT is not None:
        COLLECT.append("\n".join(src) + "\n")
        return
    rc, qout, err = run(["--quiet", "--precision", "17"], "\n".join(src) + "\n")
    vals = qout.splitlines()
    if rc != 0 or len(vals) != len(checks):
        # find the one the REPL refuses
        for expr, _, what, hd, line in checks:
            one = [defs, prog] + ([f"out = {hd}"] if hd is not None else []) + [expr]
            rc1, o1, e1 = run(["--quiet"], "\n".join(one) + "\n")
            if rc1 != 0:
                stats.fail(prog, f"{what} '{expr}' does not evaluate in the REPL: {e1.strip()}\n    line: {line}")
        if not any("does not evaluate" in f for f in stats.failures):
            stats.fail(prog, f"pasting the formulas failed: {err.strip()} / {qout!r}")
        return
    for (expr, value, what, _, line), got in zip(checks, vals):
        stats.formulas += 1
        if what == "RULE":
            # G was typed to the preview's four digits: the rule's result is as close as that
            flat = [float(x) for x in re.findall(r"-?(?:\d+\.?\d*(?:e[-+]?\d+)?|inf|nan)", got)]
            want = [float(v) for v in value]
            scale = 1 + max(abs(v) for v in want)
            ok = len(flat) >= len(want) and all(abs(g - v) <= 2e-3 * scale for g, v in zip(flat, want))
            if not ok:
                stats.fail(prog, f"VJP rule '{expr}' evaluates to {got}, the VJP line says {value}\n    line: {line}")
            continue
        if what == "TENSOR":
            flat = [float(x) for x in re.findall(r"-?(?:\d+\.?\d*(?:e[-+]?\d+)?|inf|nan)", got)]
            if len(flat) == 1:
                flat = flat * len(value)   # a scalar formula: the same for every element
            ok = len(flat) >= len(value) and all(
                abs(g - float(v)) <= max(abs(float(v)) * 1e-3, 1e-12) for g, v in zip(flat, value))
            if not ok:
                stats.fail(prog, f"tensor formula '{expr}' evaluates to {got}, the line says {value}\n    line: {line}")
            continue
        g, v = number(got), float(value)
        if g is None:
            stats.fail(prog, f"{what} '{expr}' gave {got}: {line}")
        elif not (abs(g - v) <= half_ulp(value) or (math.isnan(g) and math.isnan(v))):
            stats.fail(prog, f"{what} '{expr}' evaluates to {g!r}, the line says {value}\n    line: {line}")


# ==== every op x every operand form ====

# operand forms: (text, positive?) - named, compound either way, negative, constants
POS = ["h", "(h + a)", "(2 * h)", "c", "0.5"]
NEG = ["b", "(-h)", "(a - h)", "-0.5"]


def unary_ops():
    """the one-input elementwise ops of core/ops.def (neg, leaky_relu and clamp, which take
    attributes, have programs of their own), and those core/ew_math.h marks positive-only"""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(root + "/core/ops.def") as f:
        ops = re.findall(r'^BS_OP\(\w+,\s*(\w+),\s*"[^"]*",\s*1,\s*BS_K_EW,', f.read(), re.M)
    with open(root + "/core/ew_math.h") as f:
        ew1 = f.read().split("#define BS_EW1_OPS(X)")[1].split("#define BS_EW2_OPS(X)")[0]
    pos = set(re.findall(r'X\(\w+, (\w+),(?:[^X]|X(?!\())*?BS_EW_POS', ew1))
    return [o for o in ops if o not in ("neg", "leaky_relu", "clamp")], pos


UNARY, POS_ONLY = unary_ops()


def op_programs():
    progs = []
    # binary operators, each operand in each form, the other named or compound
    for op in ["+", "-", "*", "/", "**"]:
        for x in POS + NEG:
            for z in ["y", "(a * y)", "-2", "3"]:
                if op == "**" and x in NEG:
                    # a negative base: a whole exponent only (a ** b * log(a) is nan there)
                    progs.append(f"Z = {x} {op} 3")
                    continue
                if op == "/" and z in ("-2", "3"):
                    progs.append(f"Z = {z} {op} {x}")
                progs.append(f"Z = {x} {op} {z}")
                progs.append(f"Z = {z} {op} {x}")
    for f in UNARY:
        for x in POS + ([] if f in POS_ONLY else NEG):
            progs.append(f"Z = {f}({x})")
            progs.append(f"Z = {f}({x}) * y")
    for x in POS + NEG:
        progs.append(f"Z = gelu({x} * y, approximate='tanh')")
        progs.append(f"Z = -{x}")
        progs.append(f"Z = leaky_relu({x}, 0.1)")
        progs.append(f"Z = leaky_relu({x} - 1, 0.2) + {x}")
        progs.append(f"Z = clamp({x}, min=-0.4, max=0.6)")
        progs.append(f"Z = clamp({x} * y, max=0.1) + {x}")
        progs.append(f"Z = clamp({x}, -1)")
    # reductions of a scalar, and the losses with compound and negative operands
    for f in ["sum", "mean", "max"]:
        progs.append(f"Z = {f}(h * a)")
    for p, t in [("h", "y"), ("(h - a)", "y"), ("h", "(a - b)"), ("(2 * h)", "-0.5"), ("b", "c")]:
        progs.append(f"Z = mse({p}, {t})")
    for p, t in [("h", "y"), ("(h * y + a)", "y"), ("sigmoid(b)", "a"), ("a * a", "y")]:
        progs.append(f"Z = bce({p}, {t})")
    for p, t in [("h", "y"), ("(h - 2)", "y"), ("b", "(a + y) / 2"), ("-h", "0.25")]:
        progs.append(f"Z = bce_with_logits({p}, {t})")
    # a program of constants alone has nothing to step
    return list(dict.fromkeys(q for q in progs if re.search(r"\b[hayb]\b", q)))


def tensor_programs():
    """broadcast tensors and the matrix ops: the lines must parse; scalar ones are checked"""
    return [
        "Z = sum(X * h)", "Z = sum(h * X + a)", "Z = mean(X / (h + a))", "Z = sum(X ** 2) * b",
        "Z = max(X, dim=1) * h", "Z = sum(relu(X - a) * h)", "Z = sum(sigmoid(X) * tanh(X))",
        "Z = sum(X @ W) * h", "Z = sum(X.T * h)", "Z = sum(reshape(X, 3, 1) * a)",
        "Z = sum(softmax(X * h, dim=-1) * X)", "Z = sum(log_softmax(X, dim=-1)) * a",
        "Z = sum(layernorm(X * h) * X)", "Z = mse(X * h, X - a)", "Z = bce(sigmoid(X), X * 0 + y)",
        "Z = bce_with_logits(X * h, X * 0 + y)", "Z = cross_entropy(X @ W, tensor([1])) * h",
        "Z = sum(X[0] * h)", "Z = sum(X[:, 1:3] * h)", "Z = sum(X[0][tensor([0, 2])] * h)",
        "Z = sum(where(X > 0, X * h, X * a))", "Z = sum(X.masked_fill(X > 0, 0.5) * h)",
        "Z = sum(gelu(X * h, approximate='tanh'))", "Z = sum(softmax(X @ W * h, dim=-1) * X[0, :2])",
        "import torch; Z = sum(torch.cat([X, X * h], dim=0) * a)",
        "Z = sum(X.permute(1, 0) * h)", "Z = sum(X.transpose(0, 1) * h)",
        "Z = sum(tril(X * h, diagonal=1) * X)", "Z = sum(triu(X) * h)",
    ]


# how a program uses each op of core/ops.def: every op must have one (a new op gets its programs)
OP_FORMS = {
    "add": r" \+ ", "sub": r" - ", "mul": r" \* ", "div": r" / ", "pow": r" \*\* ", "neg": r"= -",
    "matmul": r" @ ", "transpose": r"\.T\b", "permute": r"\.permute\(|\.transpose\(\d", "select": r"\[0\]", "slice": r"\[:, 1:3\]",
    "index_select": r"\[tensor\(", "cat": r"torch\.cat\(", "cross_entropy": r"cross_entropy\(",
    "bce_with_logits": r"bce_with_logits\(", "masked_fill": r"\.masked_fill\(",
}


def op_coverage(programs):
    """the ops of core/ops.def that no program uses"""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(root + "/core/ops.def") as f:
        names = re.findall(r"^BS_OP\(\w+,\s*(\w+),", f.read(), re.M)
    text = "\n".join(programs)
    return [n for n in names if not re.search(OP_FORMS.get(n, r"\b%s\(" % n), text)]


# ==== random scalar programs ====

def random_expr(r, depth):
    if depth == 0 or r.random() < 0.25:
        return r.choice(["h", "a", "y", "b", "c", "2", "-0.5", "0.25", "-3", "(-h)", "(a - h)"])
    k = r.random()
    x = random_expr(r, depth - 1)
    if k < 0.45:
        op = r.choice(["+", "-", "*", "/", "*"])
        z = random_expr(r, depth - 1)
        if op == "/":
            z = f"(1.5 + {z} ** 2)"   # never zero
        return f"({x} {op} {z})"
    if k < 0.55:
        return f"({x}) ** {r.choice(['2', '3', '-1'])}" if r.random() < 0.5 else f"(1.25 + {x} ** 2) ** {x}"
    if k < 0.65:
        return f"-{x}" if not x.startswith("-") else f"-({x})"
    f = r.choice(["relu", "sigmoid", "tanh", "sin", "cos", "abs", "exp_", "log_", "sqrt_", "lrelu"])
    if f == "exp_":
        return f"exp(tanh({x}))"
    if f == "log_":
        return f"log(1 + {x} ** 2)"
    if f == "sqrt_":
        return f"sqrt(0.5 + sigmoid({x}))"
    if f == "lrelu":
        return f"leaky_relu({x}, 0.05)"
    return f"{f}({x})"


def random_programs(n=50, seed=20240611):
    r = random.Random(seed)
    progs = []
    while len(progs) < n:
        e = random_expr(r, 3)
        if not re.search(r"\b[hayb]\b", e):
            continue
        lines = [f"t = {e}"]
        if r.random() < 0.5:
            lines.append(f"Z = {random_expr(r, 2)} * t + t")
        else:
            lines.append(f"Z = mse(t, {r.choice(['y', 'b', '(a - y)', '-1.0'])})")
        progs.append("; ".join(lines))
    return progs


def main():
    groups = [("ops x operand forms", DEFS, op_programs()),
              ("broadcast tensors and matrix ops", TDEFS, tensor_programs()),
              ("random scalar programs", DEFS, random_programs())]
    total_fail = 0
    missing = op_coverage([p for _, _, progs in groups for p in progs])
    if missing:
        print("FAIL ops of core/ops.def with no program here: " + ", ".join(missing))
        total_fail += 1
    global COLLECT
    for name, defs, progs in groups:
        # one process steps every program, one pastes every formula back
        run_batch([], [f"{defs}\n{p}\n:step Z\n:next 10000\n" for p in progs])
        COLLECT = []
        for p in progs:
            check_program(defs, p, Stats())
        pastes, COLLECT = COLLECT, None
        run_batch(["--quiet", "--precision", "17"], pastes)
        st = Stats()
        for p in progs:
            check_program(defs, p, st)
        print(f"{name}: {st.programs} programs, {st.locals} local lines, {st.formulas} formulas "
              f"pasted back, {st.vjps} VJP lines, {st.tensor_checked} tensor locals pasted back, {st.bcast_checked} broadcast sums checked, "
              f"{st.rules_checked} VJP rules pasted back ({st.rules_shown} in torch's internal names shown); "
              f"{len(st.failures)} failures")
        for f in st.failures[:40]:
            print("  FAIL " + f)
        total_fail += len(st.failures)
        if st.formulas == 0 and name != "broadcast tensors and matrix ops":
            print("  FAIL nothing was checked")
            total_fail += 1
    sys.exit(1 if total_fail else 0)


if __name__ == "__main__":
    main()
