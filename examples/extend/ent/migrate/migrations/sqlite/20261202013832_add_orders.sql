-- Create "orders" table
CREATE TABLE `orders` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `item` text NOT NULL, `quantity` integer NOT NULL DEFAULT (1), `created_at` datetime NOT NULL, `user_orders` uuid NOT NULL, CONSTRAINT `orders_users_orders` FOREIGN KEY (`user_orders`) REFERENCES `users` (`id`) ON DELETE NO ACTION);
