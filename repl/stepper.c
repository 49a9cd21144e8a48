/* repl/stepper.c */
