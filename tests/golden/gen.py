#!/usr/bin/python3
# tests/golden/gen.py: the PyTorch oracle; runs each cases/NAME.bs with torch, writes NAME.out/.err.
#
# Developer-only: needs torch (Debian's python3-torch, torch 1.13), run it with /usr/bin/python3:
#
#     /usr/bin/python3 tests/golden/gen.py              # regenerate every case
#     /usr/bin/python3 tests/golden/gen.py NAME ...     # only these cases
#     /usr/bin/python3 tests/golden/gen.py --check      # compare with the committed files, write nothing
#     /usr/bin/python3 tests/golden/gen.py --show NAME  # print what NAME would produce
#
# Each line of a program is parsed with Python's `ast` (backstep's syntax is a subset of Python's)
# and evaluated here against a namespace mapping backstep's vocabulary onto torch, in float64.
# The expected result is what `backstep --quiet --precision 17 FILE` prints: the value of each bare
# expression statement, one per line; on the first failing statement, the output so far, exit
# status 1, and `FILE:LINE:COL: error: ...` on stderr.
#
# Case headers (comment lines anywhere in the .bs; backstep ignores them as comments):
#   # error: KW1|KW2        the program must fail; torch decides where. The .err gets the failing
#                           line and the keywords; at least one keyword must occur in torch's own
#                           message (a check that the case fails for the intended reason).
#   # expect: LINE KW1|KW2 -- hand-written: WHY
#                           an error torch cannot express (syntax errors): the .err is this line
#                           and these keywords, written by hand; the lines before LINE are run here
#                           for the .out and must succeed.
# No header: the program must run to the end.
#
# .err format: one line "LINE KEYWORDS", KEYWORDS being alternatives separated by '|', matched
# case-insensitively against stderr by run_golden.py.
#
# Semantics modelled (backstep's rules where they are stricter than plain torch):
#   - every tensor that requires grad retains its grad (as if retain_grad() were called), so
#     intermediate grads are shown;
#   - zero_grad() and x.zero_grad() set grads to None (torch 2's set_to_none);
#   - sgd/adam optimise every param created so far (param(...) or tensor(..., requires_grad=True));
#   - calls that return nothing (backward, zero_grad, step, seed) print nothing as a statement;
#     a value that is None (x.grad before backward) prints `None`.
#   - number literals stay Python numbers until an operation needs a tensor; two numbers combine as
#     0-d tensors (int64 for ints, float64 for floats), so 1/0 is inf as in torch, not an exception.
import ast
import math
import os
import sys
import warnings

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, 'cases')

# ==== Errors ====


class BsError(Exception):
    """An error backstep reports to the user (unknown name, bad argument...)."""


class GenUnsupported(Exception):
    """The program uses something this oracle does not model: a bug in the case, not an expected error."""


class Nothing:
    """The value of a call that returns nothing; a bare statement with it prints nothing."""
    def __repr__(self):
        return 'NOTHING'


NOTHING = Nothing()

# ==== Printing (the --quiet form, %.17g) ====


def fmt_num(v):
    if isinstance(v, bool):
        return 'True' if v else 'False'
    if isinstance(v, int):
        return str(v)
    v = float(v)
    if math.isnan(v):
        return 'nan'
    if math.isinf(v):
        return 'inf' if v > 0 else '-inf'
    return '%.17g' % v


def fmt_nested(x):
    if isinstance(x, list):
        return '[' + ', '.join(fmt_nested(e) for e in x) + ']'
    return fmt_num(x)


def fmt_value(v):
    if v is None:
        return 'None'
    if isinstance(v, (bool, int, float)):
        return fmt_num(v)
    if isinstance(v, torch.Size):
        return '[' + ', '.join(str(int(d)) for d in v) + ']'
    if isinstance(v, torch.Tensor):
        return fmt_nested(v.detach().tolist())
    if isinstance(v, GradFn):
        return v.name
    raise GenUnsupported('cannot print a value of type %s' % type(v).__name__)


class GradFn:
    """x.grad_fn: printed as PyTorch's class name (MulBackward0), or None for leaves."""
    def __init__(self, name):
        self.name = name

# ==== Values ====


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def num_tensor(v):
    """A Python number as a 0-d tensor: int64 for ints, float64 for floats."""
    if isinstance(v, bool):
        raise BsError('expected a number, got %s' % v)
    if isinstance(v, int):
        return torch.tensor(v, dtype=torch.int64)
    return torch.tensor(float(v), dtype=torch.float64)


def as_tensor(v, what='argument'):
    if isinstance(v, torch.Tensor):
        return v
    if is_num(v):
        return num_tensor(v)
    raise BsError('%s must be a tensor or a number' % what)


def like(v, ref):
    """A number operand of a loss, as a tensor of ref's dtype (torch's losses need tensors)."""
    if is_num(v):
        return torch.tensor(float(v), dtype=ref.dtype if ref.is_floating_point() else torch.float64)
    return as_tensor(v)


def as_int(v, what='size'):
    if isinstance(v, torch.Tensor) and v.dim() == 0 and not v.is_floating_point():
        return int(v.item())
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    raise BsError('%s must be an integer' % what)


def as_float(v, what='argument'):
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        return float(v.item())
    if is_num(v):
        return float(v)
    raise BsError('%s must be a number' % what)


def as_bool(v, what):
    if isinstance(v, bool):
        return v
    raise BsError('%s must be True or False' % what)


def to_data(v):
    """tensor(...)/param(...) argument: numbers, (nested) lists of numbers, tensors."""
    if isinstance(v, list):
        return [to_data(e) for e in v]
    if isinstance(v, torch.Tensor):
        if v.dim() == 0:
            return v.item()
        return v.detach().tolist()
    if is_num(v):
        return v
    raise BsError('tensor data must be numbers or lists of numbers')

# ==== The session (namespace, params, optimizers) ====


class Optimizer:
    def __init__(self, opt):
        self.opt = opt

    def step(self):
        self.opt.step()
        return NOTHING

    def zero_grad(self):
        self.opt.zero_grad(set_to_none=True)
        return NOTHING


class Session:
    def __init__(self):
        self.env = {}
        self.params = []
        self.no_grad = False
        torch.manual_seed(0)
        self.builtins = {
            'param': self.f_param, 'tensor': self.f_tensor,
            'randn': self.f_randn, 'rand': self.f_rand, 'zeros': self.f_zeros, 'ones': self.f_ones,
            'eye': self.f_eye, 'arange': self.f_arange, 'seed': self.f_seed, 'dim': self.f_dim,
            'relu': unary(torch.relu), 'sigmoid': unary(torch.sigmoid), 'tanh': unary(torch.tanh),
            'exp': unary(torch.exp), 'log': unary(torch.log), 'sqrt': unary(torch.sqrt),
            'abs': unary(torch.abs), 'sin': unary(torch.sin), 'cos': unary(torch.cos),
            'leaky_relu': f_leaky_relu, 'pow': f_pow, 'matmul': f_matmul,
            'sum': f_sum, 'mean': f_mean, 'max': f_max, 'reshape': f_reshape,
            'softmax': f_softmax, 'log_softmax': f_log_softmax, 'layernorm': f_layernorm,
            'mse': f_mse, 'bce': f_bce, 'bce_with_logits': f_bce_logits,
            'cross_entropy': f_cross_entropy,
            'zero_grad': self.f_zero_grad, 'sgd': self.f_sgd, 'adam': self.f_adam,
        }

    # ---- constructors ----
    def f_param(self, x):
        t = torch.tensor(to_data(x), dtype=torch.float64)
        t.requires_grad_(True)
        self.params.append(t)
        return t

    def f_tensor(self, x, requires_grad=False):
        rg = as_bool(requires_grad, 'requires_grad')
        t = torch.tensor(to_data(x))
        if rg:
            t.requires_grad_(True)   # raises for integer tensors, as torch does
            self.params.append(t)
        return t

    @staticmethod
    def sizes(args):
        return [as_int(a) for a in args]

    def f_randn(self, *s):
        return torch.randn(*self.sizes(s))

    def f_rand(self, *s):
        return torch.rand(*self.sizes(s))

    def f_zeros(self, *s):
        return torch.zeros(*self.sizes(s))

    def f_ones(self, *s):
        return torch.ones(*self.sizes(s))

    def f_eye(self, n, m=None):
        if m is None:
            return torch.eye(as_int(n))
        return torch.eye(as_int(n), as_int(m))

    def f_arange(self, *a):
        if not 1 <= len(a) <= 3:
            raise BsError('arange takes 1 to 3 arguments')
        for v in a:
            if not is_num(v):
                raise BsError('arange arguments must be numbers')
        return torch.arange(*a)

    def f_seed(self, n):
        torch.manual_seed(as_int(n, 'seed'))
        return NOTHING

    def f_dim(self, n):
        return as_int(n)

    # ---- gradients and optimizers ----
    def f_zero_grad(self):
        for p in self.params:
            p.grad = None
        return NOTHING

    def f_sgd(self, lr=None, momentum=0.0):
        if lr is None:
            return Optimizer(torch.optim.SGD(self.params))   # raises: lr is required
        return Optimizer(torch.optim.SGD(list(self.params), lr=as_float(lr), momentum=as_float(momentum)))

    def f_adam(self, lr=1e-3):
        return Optimizer(torch.optim.Adam(list(self.params), lr=as_float(lr)))

# ==== Builtin functions ====


def unary(fn):
    def f(x):
        return fn(as_tensor(x))
    f.__name__ = fn.__name__
    return f


def f_leaky_relu(x, slope=0.01):
    return F.leaky_relu(as_tensor(x), as_float(slope, 'slope'))


def f_pow(a, b):
    return binop(ast.Pow(), a, b)


def f_matmul(a, b):
    return binop(ast.MatMult(), a, b)


def reduce_args(x, dim, keepdim):
    return as_tensor(x), (None if dim is None else as_int(dim, 'dim')), as_bool(keepdim, 'keepdim')


def f_sum(x, dim=None, keepdim=False):
    x, dim, keepdim = reduce_args(x, dim, keepdim)
    return torch.sum(x) if dim is None else torch.sum(x, dim=dim, keepdim=keepdim)


def f_mean(x, dim=None, keepdim=False):
    x, dim, keepdim = reduce_args(x, dim, keepdim)
    return torch.mean(x) if dim is None else torch.mean(x, dim=dim, keepdim=keepdim)


def f_max(x, dim=None, keepdim=False):
    x, dim, keepdim = reduce_args(x, dim, keepdim)
    return torch.max(x) if dim is None else torch.max(x, dim=dim, keepdim=keepdim).values


def f_reshape(x, *shape):
    return torch.reshape(as_tensor(x), [as_int(s) for s in shape])


def f_softmax(x, dim=-1):
    return torch.softmax(as_tensor(x), dim=as_int(dim, 'dim'))


def f_log_softmax(x, dim=-1):
    return torch.log_softmax(as_tensor(x), dim=as_int(dim, 'dim'))


def f_layernorm(x, eps=1e-5):
    x = as_tensor(x)
    return F.layer_norm(x, x.shape[-1:], eps=as_float(eps, 'eps'))


def f_mse(pred, target):
    pred = as_tensor(pred)
    return F.mse_loss(pred, like(target, pred))


def f_bce(p, target):
    p = as_tensor(p)
    return F.binary_cross_entropy(p, like(target, p))


def f_bce_logits(z, target):
    z = as_tensor(z)
    return F.binary_cross_entropy_with_logits(z, like(target, z))


def f_cross_entropy(logits, target):
    return F.cross_entropy(as_tensor(logits), as_tensor(target))


def binop(op, a, b):
    if is_num(a) and is_num(b):
        # two numbers: as 0-d tensors; an int to a negative int power is a float, as in Python
        if isinstance(op, ast.Pow) and isinstance(a, int) and isinstance(b, int) and b < 0:
            a = float(a)
        a, b = num_tensor(a), num_tensor(b)
    if isinstance(op, ast.MatMult):
        return torch.matmul(as_tensor(a), as_tensor(b))
    if not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor):
        raise BsError('operands must be tensors or numbers')
    if isinstance(op, ast.Add):
        return a + b
    if isinstance(op, ast.Sub):
        return a - b
    if isinstance(op, ast.Mult):
        return a * b
    if isinstance(op, ast.Div):
        return a / b
    if isinstance(op, ast.Pow):
        return a ** b
    raise BsError('unsupported operator')

# ==== Methods and attributes ====


def tensor_method(s, t, name, args, kw):
    if name == 'backward':
        def backward(seed=None, retain_graph=False):
            g = None
            if seed is not None:
                g = torch.tensor(to_data(seed), dtype=t.dtype) if not isinstance(seed, torch.Tensor) \
                    else seed.detach().to(t.dtype)
            t.backward(g, retain_graph=as_bool(retain_graph, 'retain_graph'))
            return NOTHING
        return backward(*args, **kw)
    if name == 'item':
        def item():
            return t.item()
        return item(*args, **kw)
    if name == 'detach':
        def detach():
            return t.detach()
        return detach(*args, **kw)
    if name == 'zero_grad':
        def zero_grad():
            t.grad = None
            return NOTHING
        return zero_grad(*args, **kw)
    raise BsError("tensor has no method '%s'" % name)


def tensor_attr(t, name):
    if name == 'T':
        return t.T
    if name == 'grad':
        return None if t.grad is None else t.grad.clone()
    if name == 'shape':
        return t.shape
    if name == 'requires_grad':
        return t.requires_grad
    if name == 'grad_fn':
        return None if t.grad_fn is None else GradFn(type(t.grad_fn).__name__)
    raise BsError("tensor has no attribute '%s'" % name)

# ==== The evaluator ====


def retain(v):
    """backstep keeps every intermediate grad: retain_grad() on each non-leaf that requires grad."""
    if isinstance(v, torch.Tensor) and v.requires_grad and v.grad_fn is not None:
        v.retain_grad()
    return v


def ev(s, node):
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, (bool, int, float)):
            return v
        raise BsError('unsupported literal %r' % (v,))
    if isinstance(node, ast.Name):
        if node.id in s.env:
            return s.env[node.id]
        if node.id in s.builtins:
            return s.builtins[node.id]
        raise BsError("name '%s' is not defined" % node.id)
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.USub):
            v = ev(s, node.operand)
            return -v if is_num(v) else retain(-as_tensor(v))
        if isinstance(node.op, ast.UAdd):
            return ev(s, node.operand)
        raise GenUnsupported('unary operator %s' % type(node.op).__name__)
    if isinstance(node, ast.BinOp):
        if not isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.MatMult)):
            raise GenUnsupported('operator %s' % type(node.op).__name__)
        return retain(binop(node.op, ev(s, node.left), ev(s, node.right)))
    if isinstance(node, ast.List):
        return [ev(s, e) for e in node.elts]
    if isinstance(node, ast.Attribute):
        obj = ev(s, node.value)
        if is_num(obj):
            obj = num_tensor(obj)
        if not isinstance(obj, torch.Tensor):
            raise BsError("'%s' has no attribute '%s'" % (type(obj).__name__, node.attr))
        return retain(tensor_attr(obj, node.attr))
    if isinstance(node, ast.Call):
        args = [ev(s, a) for a in node.args]
        kw = {}
        for k in node.keywords:
            if k.arg is None:
                raise GenUnsupported('**kwargs')
            kw[k.arg] = ev(s, k.value)
        if isinstance(node.func, ast.Attribute):
            obj = ev(s, node.func.value)
            if isinstance(obj, Optimizer):
                if node.func.attr not in ('step', 'zero_grad'):
                    raise BsError("optimizer has no method '%s'" % node.func.attr)
                return getattr(obj, node.func.attr)(*args, **kw)
            if is_num(obj):
                obj = num_tensor(obj)
            if not isinstance(obj, torch.Tensor):
                raise BsError("'%s' has no method '%s'" % (type(obj).__name__, node.func.attr))
            return retain(tensor_method(s, obj, node.func.attr, args, kw))
        if isinstance(node.func, ast.Name):
            fn = ev(s, node.func)
            if not callable(fn) or isinstance(fn, (torch.Tensor, Optimizer)):
                raise BsError("'%s' is not a function" % node.func.id)
            return retain(fn(*args, **kw))
        raise GenUnsupported('call of a computed value')
    raise GenUnsupported('expression %s' % type(node).__name__)


def run_stmt(s, st, out):
    if isinstance(st, ast.Assign):
        if len(st.targets) != 1 or not isinstance(st.targets[0], ast.Name):
            raise GenUnsupported('assignment target')
        name = st.targets[0].id
        if name in s.builtins or name in ('no_grad',):
            raise GenUnsupported('assigning to a builtin name')
        v = ev(s, st.value)
        if v is NOTHING:
            raise GenUnsupported('assigning a call that returns nothing')
        s.env[name] = v
        return
    if isinstance(st, ast.Expr):
        v = ev(s, st.value)
        if v is not NOTHING:
            out.append(fmt_value(v))
        return
    if isinstance(st, ast.With):
        if len(st.items) != 1 or not isinstance(st.items[0].context_expr, ast.Name) \
                or st.items[0].context_expr.id != 'no_grad' or st.items[0].optional_vars is not None:
            raise GenUnsupported('with: only `with no_grad:` exists')
        with torch.no_grad():
            for b in st.body:
                run_stmt(s, b, out)
        return
    raise GenUnsupported('statement %s' % type(st).__name__)

# ==== Cases ====


def parse_headers(text):
    h = {'error': None, 'expect': None}
    for line in text.splitlines():
        l = line.strip()
        if l.startswith('# error:'):
            h['error'] = l[len('# error:'):].strip()
        elif l.startswith('# expect:'):
            body = l[len('# expect:'):].split('--')[0].split()
            if len(body) != 2 or not body[0].isdigit():
                raise GenUnsupported('bad # expect: header, want "# expect: LINE KW1|KW2 -- why"')
            h['expect'] = (int(body[0]), body[1])
    return h


def run_program(text, upto=None):
    """Run the program; returns (output lines, None) or (output lines, (line, message))."""
    s = Session()
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if upto is not None and lineno >= upto:
            break
        src = line.strip()
        if not src or src.startswith('#'):
            continue
        if src.startswith(':'):
            raise GenUnsupported('line %d: REPL commands are not modelled' % lineno)
        try:
            mod = ast.parse(src, mode='exec')
        except SyntaxError as e:
            return out, (lineno, 'SyntaxError: %s' % e.msg)
        try:
            for st in mod.body:
                run_stmt(s, st, out)
        except GenUnsupported as e:
            raise GenUnsupported('line %d: %s' % (lineno, e))
        except (BsError, RuntimeError, ValueError, IndexError, TypeError, OverflowError) as e:
            return out, (lineno, '%s: %s' % (type(e).__name__, e))
    return out, None


def gen_case(path):
    """Returns (out_text, err_text or None, note)."""
    with open(path) as f:
        text = f.read()
    h = parse_headers(text)
    if h['error'] and h['expect']:
        raise GenUnsupported('both # error: and # expect:')
    if h['expect']:
        line, kws = h['expect']
        out, err = run_program(text, upto=line)
        if err:
            raise GenUnsupported('hand-written case fails before its line %d: line %d: %s' % (line, err[0], err[1]))
        # cross-check: Python's own parser (or torch) should fail on that same line
        _, full = run_program(text)
        if not full or full[0] != line:
            raise GenUnsupported('hand-written error at line %d, but the oracle fails at %s'
                                 % (line, 'line %d: %s' % full if full else 'no line'))
        return out, '%d %s\n' % (line, kws), 'hand-written error at line %d (oracle: %s)' % (line, full[1][:60])
    out, err = run_program(text)
    if h['error']:
        if not err:
            raise GenUnsupported('expected an error (%s) but the program ran to the end' % h['error'])
        alts = [k.lower() for k in h['error'].split('|') if k]
        if not any(k in err[1].lower() for k in alts):
            raise GenUnsupported('line %d fails, but not for the intended reason (%s): %s'
                                 % (err[0], h['error'], err[1]))
        return out, '%d %s\n' % (err[0], h['error']), 'line %d: %s' % (err[0], err[1][:110])
    if err:
        raise GenUnsupported('unexpected error at line %d: %s' % (err[0], err[1]))
    return out, None, 'ok'


def read_or_none(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return f.read()


def main(argv):
    check = '--check' in argv
    show = '--show' in argv
    names = [a for a in argv if not a.startswith('--')]
    if not names:
        names = sorted(f[:-3] for f in os.listdir(CASES) if f.endswith('.bs'))
    bad = 0
    stale = 0
    for name in names:
        name = name[:-3] if name.endswith('.bs') else name
        path = os.path.join(CASES, name + '.bs')
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter('always')
            try:
                out, err, note = gen_case(path)
            except GenUnsupported as e:
                print('%-28s PROBLEM: %s' % (name, e))
                bad += 1
                continue
        for w in ws:
            print('%-28s warning: %s' % (name, str(w.message)[:100]))
        out_text = ''.join(l + '\n' for l in out)
        out_path = os.path.join(CASES, name + '.out')
        err_path = os.path.join(CASES, name + '.err')
        if show:
            print('==== %s (%s)' % (name, note))
            sys.stdout.write(out_text)
            if err:
                print('---- .err: ' + err.strip())
            continue
        if check:
            old_out = read_or_none(out_path)
            old_err = read_or_none(err_path)
            if old_out != out_text or old_err != err:
                print('%-28s STALE' % name)
                stale += 1
            continue
        with open(out_path, 'w') as f:
            f.write(out_text)
        if err:
            with open(err_path, 'w') as f:
                f.write(err)
        elif os.path.exists(err_path):
            os.remove(err_path)
        print('%-28s %s' % (name, note))
    print('%d cases, %d problems%s' % (len(names), bad, ', %d stale' % stale if check else ''))
    return 1 if bad or stale else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
