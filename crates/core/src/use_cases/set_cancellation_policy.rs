//! An operator giving a concert its own cancellation policy (deadline and
//! fees), or returning it to the service's.

use super::App;
use crate::domain::ConcertId;
use crate::domain::cancellation::CancellationPolicy;

/// The policy a concert's cancellations follow, and whether it is the
/// concert's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConcertCancellationPolicy {
    pub policy: CancellationPolicy,
    /// False: the service's (`cancellation.*`).
    pub own: bool,
}

impl App {
    /// Gives the concert `policy`, or with `None` the service's again; false
    /// for an unknown concert. The next cancellation applies it.
    pub async fn set_cancellation_policy(
        &self,
        concert: ConcertId,
        policy: Option<CancellationPolicy>,
    ) -> anyhow::Result<bool> {
        self.store()
            .set_cancellation_policy(concert, policy.as_ref())
            .await
    }

    /// The policy the concert's cancellations follow now; `None` for an
    /// unknown concert.
    pub async fn cancellation_policy_of(
        &self,
        concert: ConcertId,
    ) -> anyhow::Result<Option<ConcertCancellationPolicy>> {
        let own = self.store().cancellation_policy(concert).await?;
        Ok(own.map(|own| ConcertCancellationPolicy {
            policy: own.unwrap_or(self.policies.cancellation),
            own: own.is_some(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::cancellation::{CancelRefused, FeeTier};
    use crate::testing::{TestApp, concert_id, user};
    use crate::use_cases::CancelError;

    #[tokio::test]
    async fn a_concerts_own_deadline_refuses_what_the_services_would_allow_until_it_is_removed() {
        let t = TestApp::new().await;
        let concert = concert_id(1);
        let service = t.app.policies().cancellation;
        assert_eq!(
            t.app.cancellation_policy_of(concert).await.unwrap(),
            Some(ConcertCancellationPolicy {
                policy: service,
                own: false
            })
        );
        let receipt = t.buy_seat(user(1), 1).await;
        let starts_at = t.starts_at().await;
        // Closes a year before the show, so already closed now.
        let strict = CancellationPolicy::new(
            365 * 24 * 3_600,
            &[FeeTier {
                within_secs: 400 * 24 * 3_600,
                percent: 50,
            }],
        )
        .unwrap();
        assert!(
            t.app
                .set_cancellation_policy(concert, Some(strict))
                .await
                .unwrap()
        );
        assert_eq!(
            t.app.cancellation_policy_of(concert).await.unwrap(),
            Some(ConcertCancellationPolicy {
                policy: strict,
                own: true
            })
        );
        let listed = t.app.list_reservations(user(1)).await.unwrap();
        assert_eq!(
            listed[0].cancellable_until,
            Some(strict.deadline(starts_at))
        );
        assert_eq!(listed[0].refund_now, None, "past the concert's deadline");
        let refused = t
            .app
            .cancel_reservation(user(1), receipt.reservations[0].reservation_id, None)
            .await;
        assert!(
            matches!(
                refused,
                Err(CancelError::Refused(CancelRefused::Closed { deadline }))
                    if deadline == strict.deadline(starts_at)
            ),
            "{refused:?}"
        );

        // Back to the service's policy: the same cancellation goes through.
        assert!(t.app.set_cancellation_policy(concert, None).await.unwrap());
        assert_eq!(
            t.app
                .cancellation_policy_of(concert)
                .await
                .unwrap()
                .map(|p| p.own),
            Some(false)
        );
        t.app
            .cancel_reservation(user(1), receipt.reservations[0].reservation_id, None)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_unknown_concert_has_no_policy_to_show_or_set() {
        let t = TestApp::new().await;
        let unknown = concert_id(999);
        assert_eq!(t.app.cancellation_policy_of(unknown).await.unwrap(), None);
        assert!(
            !t.app
                .set_cancellation_policy(unknown, Some(CancellationPolicy::default()))
                .await
                .unwrap()
        );
    }
}
