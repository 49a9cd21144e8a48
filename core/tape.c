/* core/tape.c */
