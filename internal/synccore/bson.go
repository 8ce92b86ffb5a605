package synccore

import "fmt"

// parseBinaryLine decodes one BSON sync line.
func parseBinaryLine(doc []byte) (syncLine, error) {
	return syncLine{}, fmt.Errorf("%w: BSON sync lines are not supported yet", ErrProtocol)
}
