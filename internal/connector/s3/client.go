package s3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/connector"
)

// Defaults for Options.
const (
	DefaultMaxAttempts = 3
	DefaultMinPartSize = 8 << 20
	DefaultMaxParts    = 10000
	DefaultPageSize    = 1000
	DefaultMaxBackoff  = 20 * time.Second
)

// Options tune a Client; the zero value gives the production defaults.
type Options struct {
	// HTTPClient carries the requests (default: the SDK's).
	HTTPClient *http.Client
	// MaxAttempts is how many times a request is tried before it fails
	// (default 3), with exponential backoff between tries. Reads of object
	// bodies resume at most this many times in a row.
	MaxAttempts int
	// MaxBackoff caps the wait between tries (default 20 s).
	MaxBackoff time.Duration
	// MinPartSize is the size of the first multipart parts and the largest
	// object a Target writes with a single PutObject (default 8 MiB). Real
	// S3 needs at least 5 MiB; tests against other servers may go lower.
	MinPartSize int64
	// MaxParts is the most parts an archive may need (default 10000, S3's
	// limit); part sizes grow so that it is never exceeded.
	MaxParts int
	// PageSize is how many keys a listing page asks for (default 1000).
	PageSize int32
}

func (o Options) withDefaults() Options {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MinPartSize <= 0 {
		o.MinPartSize = DefaultMinPartSize
	}
	if o.MaxParts <= 0 {
		o.MaxParts = DefaultMaxParts
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	return o
}

// Client is one S3 connection. It is a connector.Checker,
// connector.ObjectSource and connector.Destination, and makes
// connector.ObjectTargets with Target. It is safe for concurrent use.
type Client struct {
	cfg  Config
	opts Options
	api  *awss3.Client
}

var (
	_ connector.Checker      = (*Client)(nil)
	_ connector.ObjectSource = (*Client)(nil)
	_ connector.Destination  = (*Client)(nil)
)

// New makes a Client for cfg. It does not contact the server (see Check).
// Only the connection's own keys are used, never the environment's AWS
// credentials or shared config, unless cfg.UseAmbientCredentials is set and
// the keys are empty.
func New(ctx context.Context, cfg Config, opts Options) (*Client, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, apperr.InvalidFields("The S3 connection settings are not valid.", errs)
	}
	opts = opts.withDefaults()
	awsCfg := aws.Config{Region: cfg.Region}
	if cfg.UseAmbientCredentials && cfg.AccessKey == "" {
		loaded, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.Region))
		if err != nil {
			return nil, apperr.Wrap(apperr.Invalid, err, "The server's own AWS credentials could not be loaded; enter an access key and secret key instead.")
		}
		awsCfg = loaded
	} else {
		awsCfg.Credentials = credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")
	}
	retryer := retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = opts.MaxAttempts
		o.MaxBackoff = opts.MaxBackoff
		o.RateLimiter = ratelimit.None
	})
	api := awss3.NewFromConfig(awsCfg, func(o *awss3.Options) {
		o.Region = cfg.Region
		o.UsePathStyle = cfg.ForcePathStyle
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(strings.TrimRight(cfg.Endpoint, "/"))
		}
		if opts.HTTPClient != nil {
			o.HTTPClient = opts.HTTPClient
		}
		o.Retryer = retryer
		o.RetryMaxAttempts = opts.MaxAttempts
		// Checksums are computed and checked by coffer itself (SHA-256);
		// optional CRC trailers break some S3-compatible servers.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return &Client{cfg: cfg, opts: opts, api: api}, nil
}

// Config returns the connection's configuration.
func (c *Client) Config() Config { return c.cfg }

// API returns the underlying SDK client (for tests and tools).
func (c *Client) API() *awss3.Client { return c.api }

// Check proves that the bucket is reachable with the connection's keys:
// HeadBucket, then a listing of one key. Failures are sentences for the user.
func (c *Client) Check(ctx context.Context) (connector.CheckResult, error) {
	once := func(o *awss3.Options) { o.RetryMaxAttempts = 1 }
	bucket := aws.String(c.cfg.Bucket)
	if _, err := c.api.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: bucket}, once); err != nil {
		// HEAD answers have no body, so the reason is often only a status;
		// a listing says more.
		_, listErr := c.api.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: bucket, MaxKeys: aws.Int32(1)}, once)
		if listErr != nil && errorCode(listErr) != "" {
			return connector.CheckResult{}, c.explain(listErr, "check")
		}
		return connector.CheckResult{}, c.explain(err, "check")
	}
	if _, err := c.api.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: bucket, MaxKeys: aws.Int32(1), Prefix: prefixPtr(c.cfg.Prefix)}, once); err != nil {
		return connector.CheckResult{}, c.explain(err, "list")
	}
	return connector.CheckResult{
		Message:   fmt.Sprintf("Bucket %q is reachable and its objects can be listed.", c.cfg.Bucket),
		FreeBytes: -1,
	}, nil
}

func prefixPtr(p string) *string {
	if p == "" {
		return nil
	}
	return aws.String(p)
}

// errorCode returns the S3 error code of err ("" when there is none).
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// httpStatus returns the HTTP status of a failed request (0 when none).
func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.StatusCode
	}
	return 0
}

func isNotFound(err error) bool {
	switch errorCode(err) {
	case "NoSuchKey", "NotFound", "NoSuchUpload":
		return true
	}
	return httpStatus(err) == http.StatusNotFound && errorCode(err) != "NoSuchBucket"
}

// isDenied reports a refusal for want of a permission (not for wrong keys,
// which S3 also answers with 403 but another code).
func isDenied(err error) bool {
	code := errorCode(err)
	return code == "AccessDenied" || (code == "" && httpStatus(err) == http.StatusForbidden)
}

// explain turns an SDK error into an apperr with a sentence for the user.
// what names the action ("check", "list", "read", "upload"...). The cause is
// kept for logs; the SDK never puts the secret key in its errors.
func (c *Client) explain(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		var ne net.Error
		if !errors.As(err, &ne) {
			return fmt.Errorf("s3 %s in bucket %s: %w", what, c.cfg.Bucket, err)
		}
	}
	code := errorCode(err)
	status := httpStatus(err)
	bucket := c.cfg.Bucket
	switch {
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "InvalidToken" || code == "ExpiredToken" ||
		code == "XAdminUserNotFound" || code == "InvalidClientTokenId":
		return apperr.Wrap(apperr.Invalid, err, "S3 refused the request: the access key or secret key is wrong. Check both keys in the connection settings.")
	case code == "NoSuchBucket" || (what == "check" && status == http.StatusNotFound):
		return apperr.Wrap(apperr.Invalid, err, "Bucket %q does not exist on this S3 server. Check the bucket name and the endpoint.", bucket)
	case code == "AuthorizationHeaderMalformed" || code == "PermanentRedirect" || code == "IllegalLocationConstraintException" ||
		status == http.StatusMovedPermanently:
		region := ""
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) && re.Response != nil {
			region = re.Response.Header.Get("X-Amz-Bucket-Region")
		}
		if m := expectingRegion.FindStringSubmatch(err.Error()); region == "" && m != nil {
			region = m[1]
		}
		if region != "" && region != c.cfg.Region {
			return apperr.Wrap(apperr.Invalid, err, "Bucket %q is in region %s, not %s. Set the region to %s.", bucket, region, c.cfg.Region, region)
		}
		return apperr.Wrap(apperr.Invalid, err, "S3 refused region %q for bucket %q. Set the region the bucket was created in.", c.cfg.Region, bucket)
	case code == "AccessDenied" || code == "AllAccessDisabled" || status == http.StatusForbidden:
		return apperr.Wrap(apperr.Forbidden, err, "S3 denied access to bucket %q (%s). Give the key permission to list, read and write the bucket.", bucket, what)
	case isUnreachable(err):
		return apperr.Wrap(apperr.Unavailable, err, "The S3 endpoint %s could not be reached. Check the endpoint address and that the server is running.", c.endpointName())
	case code == "SlowDown" || code == "ServiceUnavailable" || status >= 500:
		return apperr.Wrap(apperr.Unavailable, err, "The S3 server failed to %s (it answered %s). Try again later.", what, statusOrCode(code, status))
	}
	return fmt.Errorf("s3 %s in bucket %s: %w", what, bucket, err)
}

func statusOrCode(code string, status int) string {
	if code != "" {
		return code
	}
	return fmt.Sprint(status)
}

func (c *Client) endpointName() string {
	if c.cfg.Endpoint != "" {
		return c.cfg.Endpoint
	}
	return "for region " + c.cfg.Region
}

// expectingRegion finds the right region in an AuthorizationHeaderMalformed
// message ("the region 'x' is wrong; expecting 'y'").
var expectingRegion = regexp.MustCompile(`expecting ['"]([a-z0-9-]+)['"]`)

// isUnreachable reports network failures: refused or failed dials, DNS
// errors and timeouts.
func isUnreachable(err error) bool {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.As(err, &dnsErr):
		return true
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return true
	case errors.Is(err, context.DeadlineExceeded):
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host")
}
