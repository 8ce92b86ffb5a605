//go:build !race

package attachments_test

const raceEnabled = false
