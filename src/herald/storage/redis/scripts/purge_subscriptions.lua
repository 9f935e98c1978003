purge_subscriptions(Q)
return 0
