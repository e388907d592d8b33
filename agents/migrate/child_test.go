package migrate_test

const childEnv = "MIGRATE_TEST_CHILD"

func runChildWorker() int { return 0 }
