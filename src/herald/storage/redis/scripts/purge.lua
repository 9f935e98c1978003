purge(Q)
return 0
