/* core/gradcheck.c */
