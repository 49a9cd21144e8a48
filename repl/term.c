/* repl/term.c */
