package httpapi

import (
	"math"
	"net/http"
	"strconv"

	"github.com/coffer-backup/coffer/internal/apperr"
)

// startsPerMinute is how many backups and restores one user may start per
// minute (together); more answer 429 with Retry-After.
const startsPerMinute = 30

// allowStart takes one initiation from the caller's budget, or sets
// Retry-After and returns a 429.
func (s *server) allowStart(w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r)
	ok, retry := s.startLim.Allow("user:"+strconv.FormatInt(p.user.ID, 10), s.now())
	if ok {
		return nil
	}
	secs := int(math.Ceil(retry.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return apperr.New(apperr.TooManyRequests,
		"You have started too many backups and restores in a short time (at most %d a minute); try again in %d seconds.", startsPerMinute, secs)
}
