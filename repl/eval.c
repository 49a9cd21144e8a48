/* repl/eval.c */
