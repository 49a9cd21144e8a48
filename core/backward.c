/* core/backward.c */
