/* repl/ast.h: backstep's language front end: tokens, the AST, the parse API and its arena.
 *
 * What this module owns
 *   lex.c turns source text (docs/language.md) into tokens; parse.c turns tokens into an AST of
 *   statements and expressions. Neither depends on core/: the evaluator (eval.c) walks the AST.
 *
 * Who frees what
 *   Every node, string and array of one parse lives in the bs_arena passed to bs_parse(). Nothing in
 *   an AST is malloc'ed on its own: bs_arena_free() releases the whole tree at once. The AST points
 *   into nothing else except `bs_ast.src`, which is the caller's source string (not copied): keep it
 *   alive as long as you read source slices through `start`/`end` offsets.
 *
 * What an error means
 *   The parser never prints, exits or aborts. On a syntax error bs_parse() fills a bs_parse_error
 *   (status, 1-based line and column, a message without the position, e.g. "unexpected ')'") and
 *   the caller formats it ("1:7: error: unexpected ')'"). Allocation failure is BS_PARSE_NOMEM.
 *
 * Positions
 *   Lines are 1-based, counted from `line0` (the line number of the first line of src). Columns are
 *   1-based and count BYTES from the start of the line (a tab is one column; for ASCII, bytes and
 *   characters are the same). `start`/`end` are byte offsets into src, half-open [start, end).
 *
 * Grammar (Python's syntax and precedence, lowest first; see the rule above each parse function)
 *   program   := stmt ((NEWLINE | ';') stmt)*          blank statements and '#' comments allowed
 *   stmt      := ':' NAME rest-of-statement             a REPL command (only at statement start)
 *              | 'with' 'no_grad' ['(' ')'] ':' simple (';' simple)*   the body runs to the end of
 *                                                       the line: every ';'-separated statement after
 *                                                       the colon is in the body (as in Python);
 *                                                       the body must be on the same line
 *              | NAME '=' expr | expr                   (simple statements)
 *   expr      := lambda | or_test ['if' or_test 'else' expr]   (and, or, not, comparisons as Python)
 *   comparison:= bitor (cmpop bitor)*    bitor := bitxor ('|' bitxor)*    bitxor := bitand ('^' bitand)*
 *   bitand    := sum ('&' sum)*                          (<< >> are not supported)
 *   sum       := term (('+' | '-') term)*               left-assoc
 *   term      := factor (('*' | '/' | '@') factor)*     left-assoc
 *   factor    := ('-' | '+' | '~') factor | power       so -2**2 is -(2**2)
 *   power     := primary ['**' factor]                  right-assoc; 2**-1 is 2**(-1)
 *   primary   := atom ('.' NAME | '(' args ')')*        x[i] is rejected: "indexing is not supported"
 *   atom      := NUMBER | STRING | NAME | True | False | None
 *              | '(' expr ')' | '(' ')' | '(' expr ',' [expr (',' expr)* [',']] ')'   tuples
 *              | '[' [expr (',' expr)* [',']] ']'       lists (nested for tensor data)
 *   args      := [arg (',' arg)* [',']]   arg := expr | NAME '=' expr   (no positional after keyword)
 *   Inside (), [] newlines and comments are ignored, so a statement may span lines there; a '\' at
 *   the end of a line also joins it with the next.
 *
 * Commands
 *   `:name args`: the command ends at the end of the line or at a ';' outside quotes; a '#' that
 *   starts a word (outside quotes) starts a comment. `args` is the raw text between the name and that
 *   end, trimmed, quotes kept; `argv` is the same text split into words at blanks, where '...' or
 *   "..." groups a word and the quotes are removed ("\"" and "\\" escape inside double quotes).
 */
#ifndef BS_AST_H
#define BS_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ==== Arena ==== */

/* A bump allocator: a chain of blocks. A zeroed bs_arena (BS_ARENA_INIT) is empty and ready. */
typedef struct bs_arena_block bs_arena_block;
typedef struct {
    bs_arena_block *head;   /* newest block first */
    size_t total;           /* bytes handed out so far (for curiosity and tests) */
    bs_arena_block *spare;  /* one block a release kept for the next allocation, or NULL */
    size_t first;           /* the first block's size when it is made (0: 8 KB) */
} bs_arena;
#define BS_ARENA_INIT {0}

/* n zeroed bytes aligned for any type; NULL if out of memory. */
void *bs_arena_alloc(bs_arena *a, size_t n);
/* the same, not zeroed: for arrays the caller fills at once */
void *bs_arena_alloc_raw(bs_arena *a, size_t n);
/* A NUL-terminated copy of s[0..n) in the arena; NULL if out of memory. */
char *bs_arena_strndup(bs_arena *a, const char *s, size_t n);
/* A point to go back to: bs_arena_release frees everything allocated after it. */
typedef struct { bs_arena_block *head; size_t used, total; } bs_arena_mark;
bs_arena_mark bs_arena_save(const bs_arena *a);
void bs_arena_release(bs_arena *a, bs_arena_mark m);
/* Release every block. The arena is empty afterwards and may be used again. */
void bs_arena_free(bs_arena *a);

/* ==== Tokens ==== */

typedef enum {
    BS_TOK_EOF,
    BS_TOK_NEWLINE,     /* end of a logical line (never produced inside brackets) */
    BS_TOK_NAME,        /* identifiers, including keywords, True, False, None */
    BS_TOK_NUMBER,      /* 2, 2.0, .5, 1e-3 (see bs_token.is_int) */
    BS_TOK_STRING,      /* '...' or "..." on one line; the parser decodes escapes */
    BS_TOK_LPAREN, BS_TOK_RPAREN, BS_TOK_LBRACKET, BS_TOK_RBRACKET, BS_TOK_LBRACE, BS_TOK_RBRACE,
    BS_TOK_COMMA, BS_TOK_DOT, BS_TOK_COLON, BS_TOK_SEMI, BS_TOK_ASSIGN,
    BS_TOK_PLUS, BS_TOK_MINUS, BS_TOK_STAR, BS_TOK_SLASH, BS_TOK_POW, BS_TOK_AT,
    BS_TOK_FLOORDIV,    /* // */
    BS_TOK_PERCENT,     /* % */
    BS_TOK_CMP,         /* == != < > <= >= */
    BS_TOK_AUGASSIGN,   /* += -= *= /= **= @= //= %= */
    BS_TOK_FSTRING,     /* f'...{expr:spec}...': the parser splits it (bs_token.pre) */
    /* recognised only so the parser can say they are not in the language */
    BS_TOK_BADOP,       /* & | ^ ~ << >> := -> ! */
    BS_TOK_ERROR        /* a lexical error: the message is in bs_lexer.err */
} bs_tok_kind;

typedef struct {
    bs_tok_kind kind;
    int start, end;     /* byte offsets into src: [start, end) */
    int line, col;      /* 1-based, col in bytes */
    /* BS_TOK_NUMBER only */
    double num;         /* the value (also for integers) */
    int64_t inum;       /* the value of an integer literal */
    bool is_int;        /* true for "2", false for "2.0", ".5", "1e-3" */
    /* STRING, FSTRING: the prefix (r, f, rf, ...) is `pre` bytes before the opening quote */
    int pre;
    bool raw;           /* r'...': backslashes stay as typed */
    /* the first token of a logical line: `indent` is its column count from the line's start
       (a tab advances to the next multiple of 8, as Python counts) */
    bool bol;
    int indent;
} bs_token;

/* The lexer: pull tokens one at a time. All fields are readable; none needs freeing. */
typedef struct {
    const char *src;
    int pos;            /* next byte to read */
    int line;           /* line of src[pos] (line0-based numbering) */
    int line_start;     /* offset of the first byte of that line */
    int depth;          /* open (), [], {}: NEWLINE is not produced while depth > 0 */
    bool at_bol;        /* the next token starts a logical line */
    char err[160];      /* message of the last BS_TOK_ERROR */
} bs_lexer;

void bs_lex_init(bs_lexer *lx, const char *src, int line0);
/* The next token. Skips blanks, comments and '\'-newline joins. After an error token the lexer has
 * moved past the bad input, so lexing may go on (the parser stops at the first error). */
bs_token bs_lex_next(bs_lexer *lx);
/* bs_lex_next into *out (the parser's: no token copied on the way) */
void bs_lex_scan(bs_lexer *lx, bs_token *out);
/* A printable name for a token kind ("')'", "a name", "end of line") for messages. */
const char *bs_tok_kind_name(bs_tok_kind k);

/* ==== Expressions ==== */

typedef enum {
    BS_EX_NUM,      /* num */
    BS_EX_STR,      /* str */
    BS_EX_NAME,     /* name */
    BS_EX_BOOL,     /* boolean: True / False */
    BS_EX_NONE,     /* None */
    BS_EX_LIST,     /* list: [a, b] */
    BS_EX_TUPLE,    /* list: (a, b), (a,), () */
    BS_EX_CALL,     /* call: f(a, k=v), x.method(...) (then call.fn is a BS_EX_ATTR) */
    BS_EX_ATTR,     /* attr: x.grad */
    BS_EX_UNARY,    /* unary: -x, +x, not x */
    BS_EX_BINARY,   /* bin: a + b */
    BS_EX_COMPARE,  /* cmp: a < b <= c (chained, as in Python) */
    BS_EX_BOOLOP,   /* bin (op BS_BIN_AND / BS_BIN_OR): a and b, a or b */
    BS_EX_IFEXP,    /* ifexp: a if cond else b */
    BS_EX_SUBSCRIPT,/* sub: x[i], x[:, 1], x[1:3] (index is a TUPLE for x[a, b]) */
    BS_EX_SLICE,    /* slice: lo:hi:step inside a subscript (each may be NULL) */
    BS_EX_FSTRING,  /* fstr: f"loss {L.item():.4f}" */
    BS_EX_LISTCOMP, /* comp: [elt for target in iter if cond]; comp.gen: (elt for ...), a generator
                       expression, evaluated at once into a list */
    BS_EX_DICT,     /* dict: {k: v, ...} */
    BS_EX_DICTCOMP, /* comp: {key: elt for target in iter if cond} */
    BS_EX_LAMBDA,   /* lam: lambda params: body (lam.def is a DEF whose body is one RETURN) */
    BS_EX_SET,      /* list: {a, b} */
    BS_EX_SETCOMP   /* comp: {elt for target in iter if cond} */
} bs_expr_kind;

typedef enum { BS_UN_NEG, BS_UN_POS, BS_UN_NOT, BS_UN_INVERT /* ~x */ } bs_unop;
typedef enum {
    BS_BIN_ADD, BS_BIN_SUB, BS_BIN_MUL, BS_BIN_DIV, BS_BIN_POW, BS_BIN_MATMUL,
    BS_BIN_FLOORDIV, BS_BIN_MOD, BS_BIN_AND, BS_BIN_OR,
    BS_BIN_BITAND, BS_BIN_BITOR, BS_BIN_BITXOR   /* & | ^: on masks, elementwise and, or, xor */
} bs_binop;
typedef enum { BS_CMP_EQ, BS_CMP_NE, BS_CMP_LT, BS_CMP_LE, BS_CMP_GT, BS_CMP_GE, BS_CMP_IN,
               BS_CMP_NOTIN, BS_CMP_IS, BS_CMP_ISNOT } bs_cmpop;

/* One piece of an f-string: literal text, or a replacement field {expr!conv:spec}. */
typedef struct bs_expr bs_expr;
typedef struct bs_stmt bs_stmt;
typedef struct {
    const char *lit;    /* literal text (decoded), or NULL for a field */
    bs_expr *expr;      /* the field's expression */
    char conv;          /* 'r', 's', 'a' or 0 */
    const char *spec;   /* the format spec after ':' ("" if none); nested {} are not supported */
    bool self_doc;      /* f"{x=}" */
    const char *text;   /* the field's source text, for f"{x=}" */
} bs_fpart;

/* The evaluator recurses on an expression's tree, so its height is bounded: a chain such as
   1+1+...+1 or x.T.T...T past this many levels is a syntax error, not a stack overflow. */
#define BS_MAX_DEPTH 1000

/* Numbers are held as doubles: integers are exact up to 2**53, and past it an error, not a
   rounding (literals, integer arithmetic, sizes). */
#define BS_INT_EXACT_MAX 9007199254740992LL

/* One call argument. */
typedef struct {
    const char *name;   /* keyword name ("dim"), or NULL for a positional argument */
    bs_expr *value;
    int line, col;      /* of the keyword name, or of the value when positional */
    int start, end;     /* source span of the whole argument ("dim=-1"), parentheses included */
    char star;          /* 1: f(*xs), the items of xs as positional arguments; 2: f(**d), d's
                           items as keyword arguments (name is NULL for both) */
} bs_arg;

struct bs_expr {
    bs_expr_kind kind;
    int line, col;      /* first character of the expression (an opening '(' if the expression
                           starts with a parenthesised operand, as in (a + b) * c) */
    int start, end;     /* source text [start, end) in src. A parenthesised expression's own
                           parentheses are not part of its span (as in Python's ast): for
                           x = (a + b) the value's text is "a + b". */
    int op_line, op_col; /* BINARY, UNARY: the operator; ATTR: the '.'; CALL: the '(';
                            other kinds: same as line, col */
    bool paren;         /* it was written inside its own parentheses: (a + b) */
    int depth;          /* height of the tree below it (a leaf: 1); at most BS_MAX_DEPTH */
    const char *src;    /* the source it was parsed from (start and end index it) */
    const char *text;   /* the evaluator's cache of its label text (bs_ast_text of its span),
                           interned for the session once computed; NULL before */
    uint64_t text_hash; /* with text: the text's hash, when text_plain */
    bool text_plain;    /* with text: the span holds no quote, comment, '\\' nor line break, so
                           its text is its bytes as typed (an expression starting where this one
                           does hashes on from its end: a long a + b + c + ... chain hashes once) */
    int slot;           /* NAME: the evaluator's cache of where the name was last found in the
                           running function's locals (an index to try first, checked against the
                           key, so a stale one only costs the scan it replaces); 0 before */
    unsigned gslot_gen; /* NAME: with gslot, the evaluator's cache of where the name was found among
                           the session's names: good while the table is the one of that
                           generation (bs_session.names_gen; 0: none) */
    int gslot;
    union {
        struct { double value; int64_t ival; bool is_int; } num; /* ival valid if is_int */
        struct { const char *s; size_t len; } str;  /* decoded, NUL-terminated */
        const char *name;                           /* NAME, NUL-terminated */
        bool boolean;                               /* BOOL */
        struct { bs_expr **items; int n; } list;    /* LIST and TUPLE */
        struct { bs_expr *fn; bs_arg *args; int nargs; } call;
        struct { bs_expr *obj; const char *name; int name_line, name_col; } attr;
        struct { bs_unop op; bs_expr *operand; } unary;
        struct { bs_binop op; bs_expr *lhs, *rhs; } bin;
        struct { bs_cmpop *ops; bs_expr **items; int n; } cmp;   /* n operands, n-1 ops */
        struct { bs_expr *cond, *then, *orelse; } ifexp;
        struct { bs_expr *obj, *index; } sub;
        struct { bs_expr *lo, *hi, *step; } slice;
        struct { bs_fpart *parts; int n; } fstr;
        struct { bs_expr *elt, *target, *iter, *cond, *key; bool gen; } comp; /* key: DICTCOMP */
        struct { bs_expr **keys, **vals; int n; } dict;
        struct { bs_stmt *def; } lam;
    };
};

/* The keyword argument `name` of a call, or NULL. */
const bs_arg *bs_call_kwarg(const bs_expr *call, const char *name);
/* Number of positional arguments of a call (they come first). */
int bs_call_npos(const bs_expr *call);
/* "+", "-", "*", "/", "**", "@", "//", "%", "and", "or" */
const char *bs_binop_symbol(bs_binop op);
/* "==", "<", "in", "is not", ... */
const char *bs_cmpop_symbol(bs_cmpop op);

/* ==== Statements ==== */

typedef enum {
    BS_ST_EXPR,     /* expr: a bare expression (print its value) */
    BS_ST_ASSIGN,   /* assign: target = value */
    BS_ST_WITH,     /* with: with no_grad: body... */
    BS_ST_COMMAND,  /* cmd: :name args */
    BS_ST_IMPORT,   /* imp: import a.b [as x], ... | from a.b import n [as x], ... */
    BS_ST_AUGASSIGN,/* aug: target op= value */
    BS_ST_IF,       /* ifs: if cond: body [elif ...] [else: orelse] (elif is an IF in orelse) */
    BS_ST_WHILE,    /* loop: while cond: body */
    BS_ST_FOR,      /* loop: for target in iter: body */
    BS_ST_DEF,      /* def: def name(params): body */
    BS_ST_CLASS,    /* cls: class Name(bases): body */
    BS_ST_RETURN,   /* ret: return [value] */
    BS_ST_PASS, BS_ST_BREAK, BS_ST_CONTINUE,
    BS_ST_ASSERT,   /* ifs.cond: assert cond[, msg] (msg in ifs.msg) */
    BS_ST_TRY,      /* try: try: body (except [type [as name]]: handler)* [else: orelse] [finally: final] */
    BS_ST_RAISE,    /* raise: raise [exc] */
    BS_ST_DEL       /* del: del target (a name, d[k], x[i]) */
} bs_stmt_kind;

/* An indented block (or the simple statements after a ':' on the same line). */
typedef struct {
    bs_stmt **stmts;
    int n;
} bs_block;

typedef struct {
    const char *name;
    bs_expr *def;       /* default value, or NULL */
    int line, col;
    char star;          /* 1: *args (the extra positional arguments as a tuple; the parameters
                           after it are keyword-only), 2: **kwargs (the extra keywords as a dict,
                           always last) */
} bs_param;

/* one 'except' clause: type is NULL for a bare 'except:'; a tuple for except (A, B) */
typedef struct {
    bs_expr *type;
    const char *name;   /* except E as name: the name, or NULL */
    bs_block body;
    int line, col;
} bs_handler;

typedef struct {
    const char *module;  /* "torch.nn.functional": the dotted module */
    const char *name;    /* from-import: the name imported from it; NULL for 'import module' */
    const char *as;      /* the alias, or NULL */
    int line, col;       /* where the entry starts */
} bs_import;

typedef struct {
    const char *text;   /* the word, quotes removed, NUL-terminated */
    int line, col;      /* where the word starts (its opening quote if quoted) */
    int start, end;     /* raw source span of the word, quotes included */
} bs_word;

struct bs_stmt {
    bs_stmt_kind kind;
    int line, col;      /* first character of the statement */
    int start, end;     /* source text of the whole statement, without the ';' or comment after it */
    union {
        bs_expr *expr;                              /* EXPR */
        struct {
            bs_expr *target;                        /* NAME, x.attr, x[i] or a tuple of them */
            const char *name;                       /* the target when it is NAME or NAME.attr */
            const char *attr;                       /* NAME.attr = value (x.grad = None); NULL */
            bs_expr *value;                         /* right-hand side; its label text is
                                                       bs_ast_text(a, src, value->start, value->end) */
            int op_line, op_col;                    /* the '=' */
        } assign;
        struct {
            const char *ctx;                        /* "no_grad" (the only context manager) */
            bs_stmt **body;                         /* n >= 1 statements */
            int n;
        } with;
        struct { bs_expr *target; bs_binop op; bs_expr *value; int op_line, op_col; } aug;
        struct { bs_expr *cond; bs_block body, orelse; bs_expr *msg; } ifs;
        struct { bs_expr *target; bs_expr *cond; bs_block body; } loop; /* FOR: target, cond is
                                                       the iterable; WHILE: cond */
        struct { const char *name; bs_param *params; int nparams; bs_block body; bool no_grad; } def; /* no_grad: @torch.no_grad() */
        struct { const char *name; bs_expr **bases; int nbases; bs_block body; } cls;
        struct { bs_expr *value; } ret;
        struct { bs_block body; bs_handler *handlers; int nh; bs_block orelse, final; } try_;
        struct { bs_expr *exc; } raise;                /* NULL: a bare raise (re-raise) */
        struct { bs_expr *target; } del;
        struct {
            const char *name;                       /* "step" for ":step L"; NUL-terminated */
            const char *args;                       /* raw argument text, trimmed, "" if none */
            int args_line, args_col;                /* where args start (just after the name if "") */
            int args_start, args_end;               /* span of args in src */
            bs_word *argv;                          /* args split into words */
            int argc;
        } cmd;
        struct {
            bs_import *items;                       /* n >= 1 */
            int n;
        } imp;
    };
};

/* A parsed program: statements in source order. */
typedef struct {
    const char *src;    /* the caller's source text (not copied) */
    int line0;          /* line number of src's first line */
    bs_stmt **stmts;
    int n;
} bs_ast;

/* ==== Parsing ==== */

typedef enum {
    BS_PARSE_OK = 0,
    BS_PARSE_ERROR,     /* a syntax or lexical error: line, col, msg say where and what */
    BS_PARSE_NOMEM      /* the arena could not grow */
} bs_parse_status;

typedef struct {
    bs_parse_status status;
    int line, col;      /* 1-based position of the error (col in bytes) */
    int offset;         /* byte offset of the error in src */
    char msg[256];      /* "unexpected ')'", without the position */
} bs_parse_error;

/* Parse a whole program (any number of lines). `line0` is the line number of src's first line.
 * Returns the AST allocated in `a` (never NULL unless out of memory). On an error e->status is
 * nonzero and the returned AST holds the statements that parsed completely before the error
 * (a caller that wants all-or-nothing ignores them when e->status != BS_PARSE_OK).
 * `e` may be NULL. */
bs_ast *bs_parse(const char *src, int line0, bs_arena *a, bs_parse_error *e);

/* Parse src as exactly one expression (blank lines and comments allowed around it); NULL on error.
 * For lesson checks and bs_session_number(). */
bs_expr *bs_parse_expr(const char *src, int line0, bs_arena *a, bs_parse_error *e);

/* Does src stop in the middle of a statement: inside open brackets or after a trailing '\', or
 * inside a compound statement not yet ended by a blank line (bs_lang_block_open)?
 * (A trailing operator is not a continuation, as in Python: it is a syntax error at once.) Then
 * the REPL shows a
 * continuation prompt, appends the next line (with a '\n') and asks again. Comments count as
 * blank. Input with a lexical error or unbalanced closers is "complete" (bs_parse reports it). */
bool bs_lang_incomplete(const char *src);
/* Only the brackets and '\' part of bs_lang_incomplete (a script reader's question). */
bool bs_lang_unclosed(const char *src);
/* Does src hold a compound statement (a line that ends with ':' or starts with if, for, while,
 * def, class)? At the prompt such input goes on until a blank line (bs_lang_incomplete says so
 * then too); a script reader ends it at the next line that is not indented. */
bool bs_lang_block_open(const char *src);
/* A line that goes on a compound statement at its own indentation: elif, else, except, finally. */
bool bs_lang_continues_block(const char *line);
/* Does src's last line hold a decorator (@torch.no_grad())? Its def comes next. */
bool bs_lang_pending_decorator(const char *src);

/* ==== Source text and debugging ==== */

/* A NUL-terminated copy of src[start, end) in the arena, tidied for a label: comments are dropped
 * and each run of blanks that contains a newline (or a '\' join) becomes one space. Text on one
 * line is copied as typed: "w11 * x1 + w12 * x2 + b1". NULL if out of memory. */
char *bs_ast_text(bs_arena *a, const char *src, int start, int end);

/* S-expression dumps for tests and debugging, snprintf-style: write at most len bytes (NUL
 * included) into buf and return the length the full dump needs.
 *   numbers 2 / 2.0 (an int literal prints without '.', a float always with '.' or 'e'),
 *   strings "a\"b", names x, True False None, lists [1 2], tuples (tuple 1 2),
 *   calls (call f a dim=(- 1)), attributes (. x T), unary (- x), binary (+ a b) (** a b) (@ a b),
 *   statements (= name expr), expr, (with no_grad stmt...), (:name "word" ...);
 *   bs_ast_dump puts one statement per line, separated by '\n'. */
int bs_expr_dump(const bs_expr *e, char *buf, size_t len);
int bs_stmt_dump(const bs_stmt *s, char *buf, size_t len);
int bs_ast_dump(const bs_ast *ast, char *buf, size_t len);

#endif
