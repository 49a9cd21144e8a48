/* core/backend.c */
