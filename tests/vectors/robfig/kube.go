// The parts of Kubernetes v1.36.3 that decide what a CronJob schedule means, copied so that this
// generator needs only robfig/cron (k8s.io/kubernetes cannot be required without replacing every
// staging module). Sources, Apache-2.0, The Kubernetes Authors:
//   pkg/apis/batch/validation/validation.go  validateScheduleFormat (a new object: allowTZInSchedule=false)
//   pkg/util/parsers/parsers.go              ParseCronScheduleWithPanicRecovery
//   pkg/controller/cronjob/cronjob_controllerv2.go formatSchedule (timeZone set, no TZ in schedule)
//   pkg/controller/cronjob/utils.go          mostRecentScheduleTime (earliestTime passed in directly)

package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

func parseCronScheduleWithPanicRecovery(schedule string) (sched cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched = nil
			err = fmt.Errorf("invalid schedule format: %v", r)
		}
	}()
	sched, err = cron.ParseStandard(schedule)
	return
}

// validateScheduleFormat returns the messages kube-apiserver gives for a new CronJob's schedule.
func validateScheduleFormat(schedule string) []string {
	if len(schedule) == 0 {
		return []string{"Required value"}
	}
	var errs []string
	if _, err := parseCronScheduleWithPanicRecovery(schedule); err != nil {
		errs = append(errs, err.Error())
	}
	if strings.Contains(schedule, "TZ") {
		errs = append(errs, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
	}
	return errs
}

// controllerSchedule is what the CronJob controller parses for a CronJob with spec.timeZone set.
func controllerSchedule(schedule, zone string) (cron.Schedule, error) {
	return parseCronScheduleWithPanicRecovery(fmt.Sprintf("TZ=%s %s", zone, schedule))
}

type missedSchedulesType int

const (
	noneMissed missedSchedulesType = iota
	fewMissed
	manyMissed
)

func (e missedSchedulesType) String() string {
	switch e {
	case noneMissed:
		return "none"
	case fewMissed:
		return "few"
	case manyMissed:
		return "many"
	default:
		return fmt.Sprintf("unknown(%d)", int(e))
	}
}

func mostRecentScheduleTime(earliestTime time.Time, startingDeadlineSeconds *int64, now time.Time, schedule cron.Schedule, includeStartingDeadlineSeconds bool) (time.Time, *time.Time, missedSchedulesType, error) {
	missedSchedules := noneMissed
	if includeStartingDeadlineSeconds && startingDeadlineSeconds != nil {
		// controller is not going to schedule anything below this point
		schedulingDeadline := now.Add(-time.Second * time.Duration(*startingDeadlineSeconds))

		if schedulingDeadline.After(earliestTime) {
			earliestTime = schedulingDeadline
		}
	}

	t1 := schedule.Next(earliestTime)
	t2 := schedule.Next(t1)

	if now.Before(t1) {
		return earliestTime, nil, missedSchedules, nil
	}
	if now.Before(t2) {
		return earliestTime, &t1, missedSchedules, nil
	}

	timeBetweenTwoSchedules := int64(t2.Sub(t1).Round(time.Second).Seconds())
	if timeBetweenTwoSchedules < 1 {
		return earliestTime, nil, missedSchedules, fmt.Errorf("time difference between two schedules is less than 1 second")
	}
	timeElapsed := int64(now.Sub(t1).Seconds())
	numberOfMissedSchedules := (timeElapsed / timeBetweenTwoSchedules) + 1

	var mostRecentTime time.Time
	potentialEarliest := t1.Add(time.Duration((numberOfMissedSchedules-1-1)*timeBetweenTwoSchedules) * time.Second)
	for t := schedule.Next(potentialEarliest); !t.After(now); t = schedule.Next(t) {
		mostRecentTime = t
	}

	switch {
	case numberOfMissedSchedules > 100:
		missedSchedules = manyMissed
	case numberOfMissedSchedules > 0:
		missedSchedules = fewMissed
	}

	if mostRecentTime.IsZero() {
		return earliestTime, nil, missedSchedules, nil
	}
	return earliestTime, &mostRecentTime, missedSchedules, nil
}
