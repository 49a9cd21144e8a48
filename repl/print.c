/* repl/print.c */
