/* core/optim.c */
