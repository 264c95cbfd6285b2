"""What happened: goals met, opens / clicks / unsubscribes, A/B variants, key figures."""
